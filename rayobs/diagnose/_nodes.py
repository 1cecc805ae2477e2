"""Evidence from every node: a short task pinned to each alive node reads what only it holds.

The state API says a worker vanished (``SYSTEM_ERROR``, "connection error code
2"); whether the kernel OOM-killed it is written on its node only: the kernel
log and the memory cgroup's ``oom_kill`` counter. ``read_nodes`` joins the
cluster as a driver, runs ``_probe.probe_node`` on each alive node that lost a
worker (``NodeAffinitySchedulingStrategy``, ``soft=False``, no CPU asked), and
``node_observations`` ties what came back to the deaths by node, pid and time.

Tying rules: a kernel line counts for a death on the same node naming its pid
within ``WINDOW_S`` of the recorded end. The cgroup counter names no process:
it is quoted next to a kernel line about the death, or, when the kernel log
could not be read there, on its own (a likely OOM kill, not a certain one).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from rayobs.diagnose._evidence import (
    Finding,
    FindingKind,
    cgroup_findings,
    kernel_findings,
)
from rayobs.diagnose._observation import Observation, merge

WINDOW_S = 600.0  # kernel clock and Ray's clock agree to seconds; pids recycle over hours
PROBE_BUDGET_S = 20.0
# Findings that already explain a death: no need to look on its node.
_EXPLAINED = frozenset(
    {
        FindingKind.SIGNAL,
        FindingKind.SIGNAL_HANDLED,
        FindingKind.EXIT_STATUS,
        FindingKind.OOM_RAY,
        FindingKind.OOM_KERNEL,
        FindingKind.RAY_KILLED,
        FindingKind.RAY_INIT_ERROR,
        FindingKind.RAY_NODE_DIED,
        FindingKind.RAY_EXIT,
    }
)


@dataclass(frozen=True)
class NodeReport:
    """What one node's probe returned (``error``: why there is none)."""

    node_id: str
    kernel_source: str | None = None
    kernel_lines: tuple[tuple[float | None, str], ...] = ()
    kernel_error: str | None = None
    cgroups: tuple[tuple[str, str, str], ...] = ()  # (directory, file name, text)
    error: str | None = None

    @property
    def label(self) -> str:
        return f"node {self.node_id[:8]}"

    def note(self) -> str:
        """One line for the report's sources: what was read there, or why nothing was."""
        if self.error:
            return f"{self.label}: no evidence ({self.error})"
        kernel = (
            f"kernel log unreadable ({self.kernel_error})"
            if self.kernel_error
            else f"{self.kernel_source} ({len(self.kernel_lines)} OOM/crash lines)"
        )
        cgroups = sorted({directory for directory, _, _ in self.cgroups})
        return f"{self.label}: {kernel}; memory cgroups: {', '.join(cgroups) or 'none readable'}"


def report_from(node_id: str, raw: Mapping[str, Any]) -> NodeReport:
    """A probe's plain data as a ``NodeReport``."""
    kernel = raw.get("kernel") or {}
    cgroups = tuple(
        (str(item["path"]), str(name), str(text))
        for item in raw.get("cgroups") or ()
        for name, text in sorted(item.get("files", {}).items())
    )
    return NodeReport(
        node_id=node_id,
        kernel_source=kernel.get("source"),
        kernel_lines=tuple((t, str(line)) for t, line in kernel.get("lines") or ()),
        kernel_error=kernel.get("error"),
        cgroups=cgroups,
    )


def needs_node_evidence(observations: Iterable[Observation]) -> dict[str, list[Observation]]:
    """Node id -> its deaths that no record explains (the ones a node's evidence can)."""
    wanted: dict[str, list[Observation]] = {}
    for item in merge(observations):
        if item.routine or not item.ended or item.pid is None or not item.node:
            continue
        if {f.kind for f in item.findings} & _EXPLAINED:
            continue
        wanted.setdefault(item.node, []).append(item)
    return wanted


def node_observations(
    wanted: Mapping[str, list[Observation]], reports: Iterable[NodeReport]
) -> list[Observation]:
    """The findings of each node's report tied to that node's deaths."""
    found: list[Observation] = []
    for report in reports:
        if report.error:
            continue
        kernel = _kernel(report)
        counters = [
            finding
            for directory, name, text in report.cgroups
            for finding in cgroup_findings(name, text, f"{report.label} {directory}")
        ]
        for death in wanted.get(report.node_id, ()):
            tied = [
                f
                for t, f in kernel
                if f.pid == death.pid and (t is None or death.time is None or _near(t, death.time))
            ]
            oom = any(f.kind is FindingKind.OOM_KERNEL for f in tied)
            extra = counters if (oom or report.kernel_error) else []
            if tied or extra:
                found.append(
                    Observation(
                        worker_id=death.worker_id,
                        pid=death.pid,
                        node=death.node,
                        findings=tuple(tied + extra),
                        ended=False,
                    )
                )
    return found


def _near(kernel_time: float, death_time: float) -> bool:
    return abs(kernel_time - death_time) <= WINDOW_S


def _kernel(report: NodeReport) -> list[tuple[float | None, Finding]]:
    found = []
    for when, line in report.kernel_lines:
        source = f"{report.label} {report.kernel_source}"
        for finding in kernel_findings([line], source):
            evidence = replace(finding.evidence, source=source)
            found.append((when, replace(finding, evidence=evidence)))
    return found


def read_nodes(
    gcs: str, wanted: Mapping[str, list[Observation]], budget: float = PROBE_BUDGET_S
) -> list[NodeReport]:
    """Run the probe on each node of ``wanted`` that is alive; one report per node.

    Joins the cluster at ``gcs`` as a driver for the duration. A node that is
    dead, or does not answer within ``budget`` seconds, gets a report saying so.
    Raises nothing about the nodes themselves; the caller bounds the connection.
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from rayobs.diagnose import _probe

    deadline = time.monotonic() + budget
    ray.init(
        address=gcs, logging_level=logging.ERROR, log_to_driver=False, namespace="rayobs-diagnose"
    )
    try:
        alive = {n["NodeID"] for n in ray.nodes() if n.get("Alive")}  # type: ignore[no-untyped-call]
        # The node needs no rayobs: the probe travels by value.
        ray.cloudpickle.register_pickle_by_value(_probe)  # type: ignore[no-untyped-call]
        probe = ray.remote(num_cpus=0, max_retries=0)(_probe.probe_node)
        pending: dict[Any, str] = {}
        reports: dict[str, NodeReport] = {}
        for node_id in wanted:
            if node_id not in alive:
                reports[node_id] = NodeReport(node_id, error="the node is dead")
                continue
            strategy = NodeAffinitySchedulingStrategy(node_id, soft=False)
            pending[probe.options(scheduling_strategy=strategy).remote()] = node_id
        refs = list(pending)
        while refs and time.monotonic() < deadline:
            ready, refs = ray.wait(refs, num_returns=1, timeout=deadline - time.monotonic())
            for ref in ready:
                node_id = pending[ref]
                try:
                    reports[node_id] = report_from(node_id, ray.get(ref))
                except Exception as exc:  # the probe's own failure: say so, go on
                    reports[node_id] = NodeReport(node_id, error=f"the probe failed: {exc}")
        for ref in refs:
            reports[pending[ref]] = NodeReport(
                pending[ref], error=f"no answer from the node within {budget:.0f}s"
            )
            ray.cancel(ref, force=True)
        return [reports[node_id] for node_id in wanted]
    finally:
        ray.shutdown()
