"""The metrics rayobs itself emits, declared once.

Pure data: one frozen ``MetricSpec`` per metric, and nothing that records.
Wrappers record through handles built from these specs (``rayobs.metrics._own``);
dashboards, alert rules and docs are generated from them, so a name changes here
or nowhere. Names are as declared; on the Ray backend they
are exported with a ``ray_`` prefix (``rayobs_recording_failures`` →
``ray_rayobs_recording_failures_total``).
"""

from __future__ import annotations

from rayobs import _outcome
from rayobs.metrics._spec import Kind, MetricSpec, make_spec

RECORDING_FAILURES = make_spec(
    Kind.COUNTER,
    "rayobs_recording_failures",
    "Samples rayobs failed to record (backend error, tag misuse, metrics agent gone), "
    "by metric and stage. The user's code carried on.",
    tag_keys=("metric", "stage"),
)

CARDINALITY_OVERFLOW = make_spec(
    Kind.COUNTER,
    "rayobs_cardinality_overflow",
    "Samples folded into the '__other__' tag values because the metric exceeded its "
    "budget of distinct tag sets in one process.",
    tag_keys=("metric",),
)

INTERNAL = (RECORDING_FAILURES, CARDINALITY_OVERFLOW)

# ---- task and actor calls, recorded by rayobs.instrument / rayobs.remote ----

# Static tags a decorated function may carry besides its kind and name. A metric
# family has one fixed set of tag keys (Prometheus, and Ray's agent, need that),
# so extra tags come from this short list; unset ones are exported empty, which
# Prometheus treats as absent.
EXTRA_TAG_KEYS = ("app", "component", "team")
CALL_TAG_KEYS = ("kind", "name", *EXTRA_TAG_KEYS)
_NO_EXTRAS = {key: "" for key in EXTRA_TAG_KEYS}

# Sub-millisecond to half an hour: Ray tasks range from tiny to long batch steps.
DURATION_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
)  # fmt: skip

# How a call ended (the outcome tag, rayobs._outcome): ok, it returned; exit, an
# intended exit (ray.actor.exit_actor(), sys.exit() or sys.exit(0)), never an error;
# error, any other exception, SystemExit with another code included. Error ratios
# are error calls over all finished calls, exits included.
OUTCOMES = _outcome.OUTCOMES
OUTCOME_ERROR = _outcome.ERROR

CALLS = make_spec(
    Kind.COUNTER,
    "rayobs_calls",
    "Finished calls of instrumented tasks and actor methods, by outcome: ok, exit (an "
    "intended exit: ray.actor.exit_actor(), sys.exit(0)) or error. kind is task, actor or node "
    "(a Hamilton node); name is the function, Class.method or node.",
    default_tags=_NO_EXTRAS,
    tag_keys=(*CALL_TAG_KEYS, "outcome"),
)
CALL_ERRORS = make_spec(
    Kind.COUNTER,
    "rayobs_call_errors",
    "Calls of instrumented tasks and actor methods that raised, by exception type "
    "(builtins by name, others as module.QualName). Intended exits are not counted.",
    default_tags=_NO_EXTRAS,
    tag_keys=(*CALL_TAG_KEYS, "exception"),
)
CALL_DURATION = make_spec(
    Kind.HISTOGRAM,
    "rayobs_call_duration_seconds",
    "Wall time of each instrumented call in seconds, from entry to return or raise; for "
    "generators, the whole iteration.",
    boundaries=DURATION_BUCKETS,
    default_tags=_NO_EXTRAS,
    tag_keys=(*CALL_TAG_KEYS, "outcome"),
    unit="seconds",
)
CALLS_IN_FLIGHT = make_spec(
    Kind.GAUGE,
    "rayobs_calls_in_flight",
    "Instrumented calls running right now, per worker process (sum over WorkerId).",
    default_tags=_NO_EXTRAS,
    tag_keys=CALL_TAG_KEYS,
)

CALL_MEMORY = make_spec(
    Kind.HISTOGRAM,
    "rayobs_call_memory_increase_bytes",
    "Peak resident memory increase during each call, in bytes, for calls instrumented "
    "with memory=True (sampled by memory_profiler; costs about 10 ms per call).",
    boundaries=tuple(2**power for power in range(20, 35, 2)),  # 1 MiB to 16 GiB
    default_tags=_NO_EXTRAS,
    tag_keys=CALL_TAG_KEYS,
    unit="bytes",
)

CALL_METRICS: dict[str, MetricSpec] = {
    "calls": CALLS,
    "errors": CALL_ERRORS,
    "duration": CALL_DURATION,
    "in_flight": CALLS_IN_FLIGHT,
}

# ---- worker memory, sampled by rayobs.hooks.setup_worker (RAYOBS_WORKER_RSS_INTERVAL) ----

WORKER_RSS = make_spec(
    Kind.GAUGE,
    "rayobs_worker_rss_bytes",
    "Resident set size of the process, sampled by rayobs.hooks.setup_worker. One series "
    "per Ray worker (label WorkerId).",
    unit="bytes",
)
WORKER_RSS_PEAK = make_spec(
    Kind.GAUGE,
    "rayobs_worker_rss_peak_bytes",
    "Highest resident set size the kernel recorded for the process since it started "
    "(getrusage ru_maxrss): catches spikes between two samples of rayobs_worker_rss_bytes.",
    unit="bytes",
)

WORKER_MEMORY = (WORKER_RSS, WORKER_RSS_PEAK)

EVERY = (*INTERNAL, *CALL_METRICS.values(), CALL_MEMORY, *WORKER_MEMORY)
