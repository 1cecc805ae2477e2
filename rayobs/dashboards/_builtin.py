"""The dashboards rayobs ships, built from the metric catalog.

Metric names come from ``rayobs.metrics._catalog`` (the one place they are declared);
Ray's own metric names are the ones Ray 2.60 exports, read from a live node's
``/metrics`` endpoint. Every panel filters on the cluster and session
variables; the call panels also on ``app``, ``component`` (a Serve application and
deployment, a Hamilton dataflow) and the task/actor/method ``name``.
"""

from __future__ import annotations

from rayobs.dashboards._model import Dashboard, Panel, PanelKind, Query, Row, Variable
from rayobs.dashboards._promql import (
    BASE_FILTER,
    CLUSTER_LABEL,
    SESSION_LABEL,
    exported,
    selector,
    with_matchers,
)
from rayobs.metrics import _catalog

RATE = "$__rate_interval"  # Grafana picks it from the scrape interval: at least 4 scrapes
QUANTILES = (0.5, 0.95, 0.99)


def standard_variables(anchor: str) -> tuple[Variable, ...]:
    """The ``cluster`` and ``session`` variables, with values read from ``anchor``.

    ``anchor`` (a metric name or a ``{...}`` selector) is what the dashboard
    charts, so the lists are never empty where the dashboard has data.
    """
    return (
        Variable(
            "cluster",
            "Cluster",
            anchor,
            CLUSTER_LABEL,
            "KubeRay's ray.io/cluster label (ray_io_cluster). All matches series without it too, "
            "e.g. a local Ray.",
        ),
        Variable(
            "session",
            "Session",
            with_matchers(anchor, f'{CLUSTER_LABEL}=~"$cluster"'),
            SESSION_LABEL,
            "Ray's SessionName: one per `ray start` of the head (a restarted cluster is a new "
            "session).",
        ),
    )


# ---- Tasks & actors: rayobs.instrument's four metrics ----

_CALLS = exported(_catalog.CALLS)
_ERRORS = exported(_catalog.CALL_ERRORS)
_BUCKETS = exported(_catalog.CALL_DURATION, "_bucket")
_DURATION_SUM = exported(_catalog.CALL_DURATION, "_sum")
_DURATION_COUNT = exported(_catalog.CALL_DURATION, "_count")
_IN_FLIGHT = exported(_catalog.CALLS_IN_FLIGHT)
# app and component: the static tags of rayobs.instrument, filled in by the integrations
# (a Serve application and deployment, a Hamilton dataflow); All also matches calls without.
_APP = 'app=~"$app"'
_COMPONENT = 'component=~"$component"'
_NAME = 'name=~"$name"'
_CALL = (_APP, _COMPONENT, _NAME)
_ERROR = f'outcome="{_catalog.OUTCOME_ERROR}"'


def _calls(*matchers: str) -> str:
    return selector(_CALLS, *_CALL, *matchers)


def _quantile(q: float, by: str, window: str) -> str:
    return (
        f"histogram_quantile({q}, sum by ({by}, le) (rate({selector(_BUCKETS, *_CALL)}[{window}])))"
    )


def _ratio(fn: str, window: str) -> str:
    """Errors / calls per name; names that never failed get 0, not a missing series.

    The denominator is every finished call: an intended exit (outcome ``exit``) is a
    call that did not fail, so it lowers the ratio rather than being left out.
    """
    calls = f"sum by (name) ({fn}({_calls()}[{window}]))"
    errors = f"sum by (name) ({fn}({_calls(_ERROR)}[{window}]))"
    return f"({errors} or {calls} * 0) / {calls}"


def _pct(q: float) -> str:
    return f"p{round(q * 100)}"


def tasks_and_actors() -> Dashboard:
    """Calls, errors, latency and in-flight of every instrumented task and actor method."""
    call_rate = Panel(
        "Call rate",
        "Finished calls per second of each instrumented task or actor method, successful or "
        f"not ({_CALLS}).",
        (Query(f"sum by (name) (rate({_calls()}[{RATE}]))", "{{name}}"),),
        unit="ops",
    )
    error_ratio = Panel(
        "Error ratio",
        "Share of finished calls that raised, per task or method: error calls / all calls "
        f"({_CALLS}, outcome=error). Intended exits (outcome=exit: ray.actor.exit_actor(), "
        "sys.exit(0)) are finished calls, not errors. 100% means every call failed; 0 that "
        "none did.",
        (
            Query(
                _ratio("rate", RATE),
                "{{name}}",
            ),
        ),
        unit="percentunit",
        min=0,
        max=1,
    )
    errors = Panel(
        "Errors by exception type",
        "Calls that raised, per second, by task or method and exception type (builtins by "
        f"name, others as module.QualName) ({_ERRORS}).",
        (
            Query(
                f"sum by (name, exception) (rate({selector(_ERRORS, *_CALL)}[{RATE}]))",
                "{{name}}: {{exception}}",
            ),
        ),
        unit="ops",
    )
    latency = Panel(
        "Latency p50 / p95 / p99",
        "Wall time of a call from entry to return or raise, per task or method, estimated "
        f"from the histogram buckets ({_BUCKETS}); generators count their whole iteration.",
        tuple(Query(_quantile(q, "name", RATE), f"{_pct(q)} {{{{name}}}}") for q in QUANTILES),
        unit="s",
    )
    heatmap = Panel(
        "Latency distribution",
        "Calls per second in each duration bucket, all selected tasks and methods together: "
        "a second mode or a long tail shows here before it moves p99.",
        (
            Query(
                f"sum by (le) (rate({selector(_BUCKETS, *_CALL)}[{RATE}]))",
                "{{le}}",
                heatmap=True,
            ),
        ),
        unit="s",
        kind=PanelKind.HEATMAP,
    )
    in_flight = Panel(
        "Calls in flight",
        "Calls running right now, per task or method, summed over worker processes "
        f"({_IN_FLIGHT}). A line that only grows is a hang or a leak.",
        (Query(f"sum by (name) ({selector(_IN_FLIGHT, *_CALL)})", "{{name}}"),),
        unit="short",
    )
    table = Panel(
        "Slowest tasks and methods",
        "Over the dashboard's time range: p95 and p99 latency, mean latency, calls and error "
        "ratio per task or method, slowest p95 first.",
        (
            Query(_quantile(0.95, "name", "$__range"), "p95", instant=True),
            Query(_quantile(0.99, "name", "$__range"), "p99", instant=True),
            Query(
                f"sum by (name) (rate({selector(_DURATION_SUM, *_CALL)}[$__range])) / "
                f"sum by (name) (rate({selector(_DURATION_COUNT, *_CALL)}[$__range]))",
                "mean",
                instant=True,
            ),
            Query(f"sum by (name) (increase({_calls()}[$__range]))", "calls", True, unit="short"),
            Query(
                _ratio("increase", "$__range"),
                "error ratio",
                instant=True,
                unit="percentunit",
            ),
        ),
        unit="s",
        kind=PanelKind.TABLE,
        width=24,
        height=9,
    )
    app_var = Variable(
        "app",
        "App",
        with_matchers(_CALLS, BASE_FILTER),
        "app",
        "The app tag: instrument(tags={'app': ...}), or the Serve application a replica "
        "belongs to.",
    )
    component_var = Variable(
        "component",
        "Component",
        with_matchers(_CALLS, BASE_FILTER, _APP),
        "component",
        "The component tag: instrument(tags={'component': ...}), the Serve deployment, or the "
        "Hamilton dataflow.",
    )
    name_var = Variable(
        "name",
        "Task / actor method",
        with_matchers(_CALLS, BASE_FILTER, _APP, _COMPONENT),
        "name",
        "The function name of a task, or Class.method of an actor method (Class.__init__ is "
        "actor construction).",
    )
    per_node = Panel(
        "Calls per node",
        "Finished calls and the errors among them of the selected tasks and methods, on each "
        f"node ({_CALLS}), summed over its workers: totals since the node's metrics agent "
        "started. A node is the metrics endpoint Prometheus scrapes (instance), which tells "
        "nodes apart even where they share an address (NodeAddress), as nodes on one machine do.",
        (
            Query(f"sum by (instance) ({_calls()})", "calls", instant=True),
            Query(
                f"sum by (instance) ({_calls(_ERROR)}) or sum by (instance) ({_calls()}) * 0",
                "errors",
                instant=True,
            ),
        ),
        unit="short",
        kind=PanelKind.TABLE,
        width=24,
        height=6,
    )
    return Dashboard(
        uid="rayobs-tasks-actors",
        title="rayobs / Tasks & actors",
        description="Calls, errors, latency and in-flight of tasks and actor methods "
        "instrumented with rayobs.instrument.",
        variables=(*standard_variables(_CALLS), app_var, component_var, name_var),
        rows=(
            Row("Calls and errors", (call_rate, error_ratio, errors, in_flight)),
            Row("Latency", (latency, heatmap)),
            Row("Slowest", (table,)),
            Row("By node", (per_node,)),
        ),
        file_name="tasks-actors.json",
    )


# ---- Memory & incidents: Ray's object store, memory and worker deaths, rayobs' own health ----

_OOM = "ray_memory_manager_worker_eviction_total"
_WORKER_FAILURES = "ray_node_manager_unexpected_worker_failure_total"
_STORE_USED = "ray_object_store_used_memory"
_STORE_AVAILABLE = "ray_object_store_available_memory"
_SPILL_BYTES = "ray_spill_manager_objects_bytes"
_SPILL_STATES = 'State=~"Spilled|Restored"'


def memory_and_incidents() -> Dashboard:
    """Object store, node and worker memory, OOM kills and worker deaths, rayobs' own health."""
    store = Panel(
        "Object store used vs capacity",
        "Bytes held in each node's shared-memory object store, against its capacity (used + "
        f"available) ({_STORE_USED}, {_STORE_AVAILABLE}). Near capacity, Ray spills to disk.",
        (
            Query(f"sum by (NodeAddress) ({selector(_STORE_USED)})", "used {{NodeAddress}}"),
            Query(
                f"sum by (NodeAddress) ({selector(_STORE_USED)}) + "
                f"sum by (NodeAddress) ({selector(_STORE_AVAILABLE)})",
                "capacity {{NodeAddress}}",
            ),
        ),
        unit="bytes",
        min=0,
    )
    by_location = Panel(
        "Object store memory by location",
        "Object memory by where it lives (ray_object_store_memory): MMAP_SHM in shared memory, "
        "MMAP_DISK in the fallback file, SPILLED on disk, WORKER_HEAP inlined in a worker.",
        (Query(f"sum by (Location) ({selector('ray_object_store_memory')})", "{{Location}}"),),
        unit="bytes",
        min=0,
    )
    spilled = Panel(
        "Spilled / restored bytes",
        "Bytes of this node's objects currently spilled to external storage and restored from "
        "it (ray_spill_manager_objects_bytes, State=Spilled|Restored). Rising spill means the "
        "object store is too small for the working set.",
        (
            Query(
                f"sum by (State) ({selector(_SPILL_BYTES, _SPILL_STATES)})",
                "{{State}}",
            ),
        ),
        unit="bytes",
        min=0,
    )
    oom = Panel(
        "OOM kills by name",
        "Workers Ray's memory monitor killed because the node ran low on memory, by task or "
        f"actor name ({_OOM}); the task fails with an OutOfMemoryError. Totals since the "
        "raylet started, so a first kill shows as a new line and each later one as a step.",
        (Query(f"sum by (Name) ({selector(_OOM)})", "{{Name}}"),),
        unit="short",
        min=0,
        quiet="until Ray's memory monitor kills a worker",
    )
    failures = Panel(
        "Unexpected worker failures by name",
        "Worker processes that died without being asked to (a crash, a segfault, os._exit, a "
        f"kernel OOM kill), by the task or actor they ran ({_WORKER_FAILURES}). Totals since "
        "the raylet started. `rayobs diagnose` says why each died.",
        (Query(f"sum by (Name) ({selector(_WORKER_FAILURES)})", "{{Name}}"),),
        unit="short",
        min=0,
        quiet="until a worker process dies unexpectedly",
    )
    node_memory = Panel(
        "Node memory used vs total",
        "Memory in use on each node against its total (ray_node_mem_used, ray_node_mem_total, "
        "from Ray's dashboard agent; cgroup-aware in a container). The memory monitor starts "
        "killing workers near its threshold (RAY_memory_usage_threshold, 0.95 by default).",
        (
            Query(f"sum by (ip) ({selector('ray_node_mem_used')})", "used {{ip}}"),
            Query(f"sum by (ip) ({selector('ray_node_mem_total')})", "total {{ip}}"),
        ),
        unit="bytes",
        min=0,
        quiet="where Ray runs without its dashboard agent (ray start --include-dashboard=false)",
    )
    component_memory = Panel(
        "Worker and component memory (RSS)",
        "Resident memory by Ray component (ray_component_rss_bytes): raylet, gcs_server, "
        "agents, and ray::IDLE / ray::<task or actor> for workers. Shared object-store pages "
        "count here too.",
        (
            Query(
                f"topk(15, sum by (Component) ({selector('ray_component_rss_bytes')}))",
                "{{Component}}",
            ),
        ),
        unit="bytes",
        min=0,
        quiet="where Ray runs without its dashboard agent (ray start --include-dashboard=false)",
    )
    rss = exported(_catalog.WORKER_RSS)
    rss_peak = exported(_catalog.WORKER_RSS_PEAK)
    worker_rss = Panel(
        "Worker RSS (rayobs hook)",
        f"Resident set size of each worker sampled by rayobs.hooks.setup_worker ({rss}), and "
        f"its kernel-recorded peak ({rss_peak}): the peak catches spikes between samples. "
        "Largest 10 workers.",
        (
            Query(f"topk(10, {selector(rss)})", "rss {{WorkerId}}"),
            Query(f"topk(10, {selector(rss_peak)})", "peak {{WorkerId}}"),
        ),
        unit="bytes",
        min=0,
        quiet="unless workers run rayobs.hooks.setup_worker (worker_process_setup_hook)",
    )
    recording = exported(_catalog.RECORDING_FAILURES)
    overflow = exported(_catalog.CARDINALITY_OVERFLOW)
    recording_failures = Panel(
        "rayobs recording failures",
        "Samples rayobs failed to record, by metric and stage (inc, set, observe, ...): the "
        f"user's code carried on, the data point is lost ({recording}). Totals per process, "
        "summed.",
        (Query(f"sum by (metric, stage) ({selector(recording)})", "{{metric}} {{stage}}"),),
        unit="short",
        min=0,
        quiet="while recording works",
    )
    cardinality = Panel(
        "rayobs cardinality overflow",
        "Samples folded into the '__other__' tag value because a metric exceeded its budget "
        f"of distinct tag sets in one process ({overflow}). Raise max_cardinality or drop a "
        "high-cardinality tag. Totals per process, summed.",
        (Query(f"sum by (metric) ({selector(overflow)})", "{{metric}}"),),
        unit="short",
        min=0,
        quiet="while every metric stays within its tag budget",
    )
    # instance, not NodeAddress: nodes sharing an address (one machine) stay apart
    oom_by_node = Panel(
        "OOM kills by node",
        f"Workers Ray's memory monitor killed on each node ({_OOM}), by the node's metrics "
        "endpoint (instance). A kernel OOM kill (a container or cgroup memory limit) does not "
        "count here: it shows under unexpected worker failures.",
        (Query(f"sum by (instance) ({selector(_OOM)})", "{{instance}}"),),
        unit="short",
        min=0,
        quiet="until Ray's memory monitor kills a worker",
    )
    failures_by_node = Panel(
        "Unexpected worker failures by node",
        f"Worker processes that died without being asked to on each node ({_WORKER_FAILURES}), "
        "by the node's metrics endpoint (instance): kernel OOM kills, crashes, SIGKILL and "
        "SIGTERM. Totals since the node's raylet started.",
        (Query(f"sum by (instance) ({selector(_WORKER_FAILURES)})", "{{instance}}"),),
        unit="short",
        min=0,
        quiet="until a worker process dies unexpectedly",
    )
    return Dashboard(
        uid="rayobs-memory-incidents",
        title="rayobs / Memory & incidents",
        description="Object store, spilling, node and worker memory, OOM kills and unexpected "
        "worker deaths, and rayobs' own recording health.",
        variables=standard_variables(_STORE_AVAILABLE),
        rows=(
            Row("Object store", (store, by_location, spilled)),
            Row("Memory", (node_memory, component_memory, worker_rss)),
            Row("Incidents", (oom, failures)),
            Row("rayobs health", (recording_failures, cardinality)),
            Row("Incidents by node", (failures_by_node, oom_by_node)),
        ),
        file_name="memory-incidents.json",
    )
