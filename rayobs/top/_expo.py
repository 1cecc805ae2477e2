"""Parse what a node's metrics endpoint serves into the samples ``rayobs top`` reads.

Only the series the view needs are kept: a Ray node serves thousands of
lines, so they are filtered by name before prometheus_client's text parser
sees them (its pure-Python parsing is the cost of a refresh).
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from rayobs._catalog import CALL_DURATION, CALL_ERRORS, CALLS, CALLS_IN_FLIGHT
from rayobs.top._model import Sample

RAY_PREFIX = "ray_"  # what Ray's metrics agent puts in front of every name
CALLS_TOTAL = f"{RAY_PREFIX}{CALLS.spec.name}_total"
ERRORS_TOTAL = f"{RAY_PREFIX}{CALL_ERRORS.spec.name}_total"
DURATION_BUCKET = f"{RAY_PREFIX}{CALL_DURATION.spec.name}_bucket"
IN_FLIGHT = f"{RAY_PREFIX}{CALLS_IN_FLIGHT.spec.name}"

# Ray's own series for the cluster line (Ray 2.60 names).
TASKS = "ray_tasks"
STORE_USED = "ray_object_store_memory"
RESOURCES = "ray_resources"
WORKER_FAILURES = "ray_node_manager_unexpected_worker_failure_total"
OOM_KILLS = "ray_memory_manager_worker_eviction_total"

WANTED = frozenset(
    {
        CALLS_TOTAL,
        ERRORS_TOTAL,
        DURATION_BUCKET,
        IN_FLIGHT,
        TASKS,
        STORE_USED,
        RESOURCES,
        WORKER_FAILURES,
        OOM_KILLS,
    }
)


def _wanted(line: str) -> bool:
    if not line or line[0] == "#":
        return False
    end = len(line)
    for stop in ("{", " "):
        at = line.find(stop)
        if 0 <= at < end:
            end = at
    return line[:end] in WANTED


def parse_exposition(text: str) -> tuple[Sample, ...]:
    """The samples of ``text`` (Prometheus text format) that the view reads.

    Raises ``ValueError`` on text that is not an exposition.

    >>> parse_exposition('ray_tasks{State="RUNNING"} 3.0\\nray_other 1\\n')
    (Sample(name='ray_tasks', labels=(('State', 'RUNNING'),), value=3.0),)
    """
    kept = "\n".join(line for line in text.splitlines() if _wanted(line))
    samples: list[Sample] = []
    for family in text_string_to_metric_families(kept + "\n" if kept else ""):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples.append(Sample(sample.name, labels, float(sample.value)))
    return tuple(samples)
