"""Alerting rules for Ray and for the metrics rayobs emits, as a PrometheusRule.

rayobs' own metric names come from the catalog's handles, so a rename there
changes the rules here. Ray's names were read off a live Ray 2.60 metrics
endpoint. Every alert names what to run next and a runbook anchor.

Ray creates most counters on their first increment, so a counter is often born
at 1 and ``increase()`` never sees that first event. Alerts on such counters use
:func:`new_or_increased`, which also counts series that appeared in the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rayobs.dashboards import _promql as dashboards_promql
from rayobs.k8s._params import (
    CLUSTER_LABEL,
    HEAD_CONTAINER,
    METRICS_PORT,
    MIN_CALL_RATE,
    OBJECT_STORE_FULL_RATIO,
    WORKER_CONTAINER,
    Params,
)
from rayobs.metrics import _catalog
from rayobs.metrics._spec import MetricSpec

RULE_NAME = "rayobs-alerts"
RAY_PREFIX = dashboards_promql.RAY_PREFIX  # Ray's agent prefixes every exported name

# Ray's own metrics (Ray 2.60; names as exported).
RAY_WORKER_EVICTIONS = "ray_memory_manager_worker_eviction_total"
RAY_UNEXPECTED_WORKER_FAILURES = "ray_node_manager_unexpected_worker_failure_total"
RAY_OBJECT_STORE_USED = "ray_object_store_used_memory"
RAY_OBJECT_STORE_AVAILABLE = "ray_object_store_available_memory"
RAY_SPILL_REQUESTS = "ray_spill_manager_request_total"
# kube-state-metrics (shipped with kube-prometheus-stack).
KSM_LAST_TERMINATED = "kube_pod_container_status_last_terminated_reason"
KSM_RESTARTS = "kube_pod_container_status_restarts_total"

CLUSTER = ("namespace", CLUSTER_LABEL)
# A node is a pod on Kubernetes; elsewhere (VMs, one machine) only the scraped endpoint,
# instance, tells nodes apart: nodes on one machine even share Ray's NodeAddress.
NODE = (*CLUSTER, "pod", "instance")
CALL = (*CLUSTER, "kind", "name")


def exported(spec: MetricSpec, suffix: str = "") -> str:
    """The name Prometheus stores for a catalog metric recorded on Ray (as the dashboards).

    >>> exported(_catalog.CALLS)
    'ray_rayobs_calls_total'
    >>> exported(_catalog.CALL_DURATION, "_bucket")
    'ray_rayobs_call_duration_seconds_bucket'
    """
    return dashboards_promql.exported(spec, suffix)


def _by(labels: tuple[str, ...]) -> str:
    return f"by ({', '.join(labels)})"


def new_or_increased(selector: str, window: str, labels: tuple[str, ...]) -> str:
    """Events of a counter in ``window``, including those of series born inside it.

    A series absent ``window`` ago contributes its whole value; the others
    their ``increase``. (``or`` keeps its left side where both match, so the
    new series must come first.)
    """
    return (
        f"sum {_by(labels)} (\n"
        f"  ({selector} unless {selector} offset {window})\n"
        f"  or increase({selector}[{window}])\n"
        ") > 0"
    )


@dataclass(frozen=True)
class Alert:
    """One alerting rule, with the command an on-call engineer runs next."""

    name: str
    group: str
    expr: str
    duration: str  # the rule's ``for``
    severity: str
    summary: str
    description: str
    command: str | None  # the ``rayobs`` subcommand the description names, if any

    def rule(self, params: Params) -> dict[str, Any]:
        rule: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.duration != "0m":
            rule["for"] = self.duration
        rule["labels"] = {"severity": self.severity}
        rule["annotations"] = {
            "summary": self.summary,
            "description": self.description,
            "runbook_url": f"{params.runbook_base}#{self.name.lower()}",
        }
        return rule


_WHERE = f"Ray cluster {{{{ $labels.{CLUSTER_LABEL} }}}} (namespace {{{{ $labels.namespace }}}})"
_ON_HEAD = "in the head pod (kubectl exec -it HEAD_POD -- ...)"
# The node of a node alert: its pod on Kubernetes, else the endpoint Prometheus scraped.
_NODE = "{{ if $labels.pod }}pod {{ $labels.pod }}{{ else }}node {{ $labels.instance }}{{ end }}"


def _call_alerts(params: Params) -> list[Alert]:
    calls = exported(_catalog.CALLS)
    buckets = exported(_catalog.CALL_DURATION, "_bucket")
    by_call = _by(CALL)
    rate = f"sum {by_call} (rate({calls}[5m]))"
    # intended exits (outcome="exit") are calls that did not fail: in the rate, not the errors
    errors = f'sum {by_call} (rate({calls}{{outcome="{_catalog.OUTCOME_ERROR}"}}[5m]))'
    return [
        Alert(
            name="RayobsHighErrorRatio",
            group="rayobs.calls",
            expr=f"(\n  {errors}\n  /\n  {rate}\n) > {params.error_ratio:g}\n"
            f"and {rate} >= {MIN_CALL_RATE:.4g}",
            duration="10m",
            severity="warning",
            summary="{{ $labels.kind }} {{ $labels.name }} fails {{ $value | humanizePercentage }}"
            f" of its calls in {_WHERE}",
            description=(
                f"More than {params.error_ratio:.0%} of the calls of the instrumented "
                "{{ $labels.kind }} {{ $labels.name }} raised during the last 5 minutes "
                "(intended exits, outcome=exit, are not errors). "
                f"{exported(_catalog.CALL_ERRORS)} names the exception types. If workers died "
                "rather than raised, run `rayobs diagnose --since 30m` "
                f"{_ON_HEAD} to see why each one died."
            ),
            command="diagnose",
        ),
        Alert(
            name="RayobsHighP99Latency",
            group="rayobs.calls",
            expr=f"histogram_quantile(0.99, sum {_by((*CALL, 'le'))} (rate({buckets}[5m])))\n"
            f"> {params.p99_seconds:g}",
            duration="15m",
            severity="warning",
            summary="p99 latency of {{ $labels.kind }} {{ $labels.name }} is "
            f"{{{{ $value | humanizeDuration }}}} in {_WHERE}",
            description=(
                "One call in a hundred of {{ $labels.kind }} {{ $labels.name }} took longer than "
                f"{params.p99_seconds:g}s for 15 minutes. Profile it: run the job under "
                "`rayobs launch --cpu -- python job.py`, or give the workers "
                "RAYOBS_WORKER_CPROFILE_DIR, then read the files with `rayobs profile report FILE`."
            ),
            command="profile",
        ),
    ]


def _worker_alerts() -> list[Alert]:
    restarted = f'increase({KSM_RESTARTS}{{container=~"{HEAD_CONTAINER}|{WORKER_CONTAINER}"}}[10m])'
    oom_reason = (
        f'{KSM_LAST_TERMINATED}{{reason="OOMKilled", '
        f'container=~"{HEAD_CONTAINER}|{WORKER_CONTAINER}"}}'
    )
    return [
        Alert(
            name="RayWorkerOOMKilled",
            group="ray.workers",
            expr=new_or_increased(RAY_WORKER_EVICTIONS, "10m", (*NODE, "Name")),
            duration="0m",
            severity="warning",
            summary='Ray killed {{ $value | printf "%.0f" }} worker(s) running {{ $labels.Name }}'
            f" for lack of memory in {_WHERE}",
            description=(
                f"On {_NODE}, memory ran low and Ray's memory monitor killed workers "
                "(their callers get OutOfMemoryError; retries can hide it). Run "
                f"`rayobs diagnose --since 30m` {_ON_HEAD} for each death and its evidence, and "
                "`rayobs memory` to see what holds memory. Then give the pod more memory or run "
                "fewer such tasks at once (ask for more CPUs or memory per task)."
            ),
            command="diagnose",
        ),
        Alert(
            name="RayWorkerDiedUnexpectedly",
            group="ray.workers",
            expr=new_or_increased(RAY_UNEXPECTED_WORKER_FAILURES, "10m", (*NODE, "Name")),
            duration="0m",
            severity="warning",
            summary='{{ $value | printf "%.0f" }} worker(s) running {{ $labels.Name }} died '
            f"unexpectedly in {_WHERE}",
            description=(
                f"Workers on {_NODE} exited with SYSTEM_ERROR: killed by a signal "
                "(the kernel's OOM killer, SIGKILL) or crashed (SIGSEGV). Run "
                f"`rayobs diagnose --since 30m` {_ON_HEAD} to see why each one died; "
                "`rayobs exit-code CODE` explains an exit status found in the logs."
            ),
            command="diagnose",
        ),
        Alert(
            name="RayPodOOMKilled",
            group="ray.workers",
            expr=f"({oom_reason} == 1)\nand on (namespace, pod, container)\n({restarted} > 0)",
            duration="0m",
            severity="warning",
            summary="Container {{ $labels.container }} of pod {{ $labels.pod }} (namespace "
            "{{ $labels.namespace }}) was OOMKilled",
            description=(
                "The container exceeded its memory limit and the kernel killed it, with every "
                "Ray process in it. Run `kubectl get pod {{ $labels.pod }} -n "
                "{{ $labels.namespace }} -o json | rayobs exit-code 137 --pod -` for the "
                "evidence, and `rayobs memory` on the cluster to see what held memory."
            ),
            command="exit-code",
        ),
    ]


def _object_store_alerts() -> list[Alert]:
    by_node = _by(NODE)
    used = f"sum {by_node} ({RAY_OBJECT_STORE_USED})"
    available = f"sum {by_node} ({RAY_OBJECT_STORE_AVAILABLE})"
    return [
        Alert(
            name="RayObjectStoreAlmostFull",
            group="ray.object-store",
            expr=f"{used}\n/\n({used} + {available})\n> {OBJECT_STORE_FULL_RATIO:g}",
            duration="5m",
            severity="warning",
            summary="Object store of pod {{ $labels.pod }} is {{ $value | humanizePercentage }} "
            f"full in {_WHERE}",
            description=(
                f"More than {OBJECT_STORE_FULL_RATIO:.0%} of the pod's object store has been in "
                "use for 5 minutes: new objects spill to disk or wait. Run `rayobs memory` "
                f"{_ON_HEAD} to see which call sites hold references, and free them "
                "(del the ObjectRefs) or give the store more memory."
            ),
            command="memory",
        ),
        Alert(
            name="RayObjectSpilling",
            group="ray.object-store",
            expr=f'sum {by_node} (increase({RAY_SPILL_REQUESTS}{{Type="Spilled"}}[10m])) > 0',
            duration="0m",
            severity="info",
            summary="Pod {{ $labels.pod }} spilled objects to disk in " + _WHERE,
            description=(
                '{{ $value | printf "%.0f" }} objects were spilled to local disk in 10 minutes: '
                "the object store is full and tasks slow down reading them back. Run "
                f"`rayobs memory` {_ON_HEAD} to see which objects fill the store and who "
                "holds them."
            ),
            command="memory",
        ),
    ]


def _scrape_alerts() -> list[Alert]:
    up = f'up{{{CLUSTER_LABEL}!="", endpoint="{METRICS_PORT[0]}"}}'
    by_cluster = _by(CLUSTER)
    return [
        Alert(
            name="RayMetricsAbsent",
            group="ray.scrape",
            # Either no metrics endpoint of the cluster answers, or they answer without
            # the raylet's metrics (the agent is up but Ray's core is not reporting).
            expr=(
                f"(max {by_cluster} ({up}) == 0)\n"
                f"or\n(\n  group {by_cluster} ({up} == 1)\n"
                f"  unless on ({', '.join(CLUSTER)})\n"
                f'  group {by_cluster} ({RAY_OBJECT_STORE_USED}{{{CLUSTER_LABEL}!=""}})\n)'
            ),
            duration="10m",
            severity="warning",
            summary=f"No Ray metrics from {_WHERE}",
            description=(
                "Prometheus has had no metrics from the Ray nodes of this cluster for 10 "
                "minutes: the pods are down or restarting, or Ray's metrics agent stopped. "
                "Dashboards and the other Ray alerts are blind meanwhile. Check the pods "
                f"(kubectl get pods -l ray.io/cluster={{{{ $labels.{CLUSTER_LABEL} }}}} -n "
                "{{ $labels.namespace }}); for a container that exited, "
                "`kubectl get pod POD -o json | rayobs exit-code CODE --pod -` says why."
            ),
            command="exit-code",
        ),
    ]


def _internal_alerts() -> list[Alert]:
    overflow = exported(_catalog.CARDINALITY_OVERFLOW)
    failures = exported(_catalog.RECORDING_FAILURES)
    calls = exported(_catalog.CALLS)
    return [
        Alert(
            name="RayobsCardinalityOverflow",
            group="rayobs.internal",
            expr=new_or_increased(overflow, "15m", (*CLUSTER, "metric")),
            duration="0m",
            severity="warning",
            summary="rayobs folded tag values of {{ $labels.metric }} into __other__ in " + _WHERE,
            description=(
                "A process recorded more distinct tag sets for {{ $labels.metric }} than its "
                "budget (max_cardinality=, or RAYOBS_MAX_CARDINALITY, default 1000); "
                "{{ $value | printf \"%.0f\" }} samples in 15 minutes went to '__other__'. A tag "
                "takes unbounded values (ids, timestamps, free text). No rayobs command shows "
                f'it: query count by (name) ({calls}{{{CLUSTER_LABEL}="{{{{ $labels.'
                f'{CLUSTER_LABEL} }}}}"}}) and fix the tag, or raise the budget.'
            ),
            command=None,
        ),
        Alert(
            name="RayobsRecordingFailures",
            group="rayobs.internal",
            expr=new_or_increased(failures, "15m", (*CLUSTER, "metric", "stage")),
            duration="0m",
            severity="warning",
            summary="rayobs failed to record {{ $labels.metric }} ({{ $labels.stage }}) in "
            + _WHERE,
            description=(
                '{{ $value | printf "%.0f" }} samples of {{ $labels.metric }} were lost in 15 '
                "minutes at stage {{ $labels.stage }} (backend error, tag misuse, metrics agent "
                "gone); the application carried on. No rayobs command shows it: the first "
                "occurrence of each cause is logged by the 'rayobs' logger in the worker's "
                "log (worker-*.err); RAYOBS_STRICT=1 in a test raises it instead."
            ),
            command=None,
        ),
    ]


def alerts(params: Params) -> list[Alert]:
    """Every alert, in file order."""
    return [
        *_call_alerts(params),
        *_worker_alerts(),
        *_object_store_alerts(),
        *_scrape_alerts(),
        *_internal_alerts(),
    ]


def rule_groups(params: Params) -> list[dict[str, Any]]:
    """Prometheus rule groups, in the shape of a rule file's ``groups``."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for alert in alerts(params):
        groups.setdefault(alert.group, []).append(alert.rule(params))
    return [{"name": name, "rules": rules} for name, rules in groups.items()]


def prometheus_rule(params: Params) -> dict[str, Any]:
    """The PrometheusRule Prometheus Operator loads (selected by its ``release`` label)."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": RULE_NAME,
            "namespace": params.namespace,
            "labels": params.monitor_labels(),
        },
        "spec": {"groups": rule_groups(params)},
    }
