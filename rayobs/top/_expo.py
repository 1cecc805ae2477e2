"""Parse what a node's metrics endpoint serves into the samples ``rayobs top`` reads.

Only the series the view needs are kept, filtered by name first. A node with
many instrumented functions serves ~10,000 of them, and prometheus_client's
text parser takes ~0.1 ms a line: the wanted lines are found and read by
regular expressions over the whole page instead (as Ray's agent writes them:
``name{labels} value``), and a line whose label values hold escapes is
handed to prometheus_client's parser. Labels are read when first used, and
once per series (see ``Sample``).
"""

from __future__ import annotations

import re

from rayobs.metrics._catalog import CALL_DURATION, CALL_ERRORS, CALLS, CALLS_IN_FLIGHT
from rayobs.top._model import Sample

RAY_PREFIX = "ray_"  # what Ray's metrics agent puts in front of every name
CALLS_TOTAL = f"{RAY_PREFIX}{CALLS.name}_total"
ERRORS_TOTAL = f"{RAY_PREFIX}{CALL_ERRORS.name}_total"
DURATION_BUCKET = f"{RAY_PREFIX}{CALL_DURATION.name}_bucket"
IN_FLIGHT = f"{RAY_PREFIX}{CALLS_IN_FLIGHT.name}"

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


_NAMES = "|".join(sorted(WANTED, key=len, reverse=True))
# one pass over the whole page, in C: the lines of the wanted series only, as
# (series, name, labels, value)
_LINE = re.compile(
    rf"^(({_NAMES})(?:\{{([^\n]*)\}})?)[ \t]+(\S+)(?:[ \t]+-?\d+)?[ \t]*$", re.MULTILINE
)


def _fallback(line: str) -> list[Sample]:
    from prometheus_client.parser import text_string_to_metric_families  # rare: a 50 ms import

    samples = []
    for family in text_string_to_metric_families(line + "\n"):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples.append(Sample(sample.name, labels, float(sample.value)))
    return samples


def parse_exposition(text: str) -> tuple[Sample, ...]:
    """The samples of ``text`` (Prometheus text format) that the view reads.

    Lines that are not exposition lines are left out.

    >>> parse_exposition('ray_tasks{State="RUNNING"} 3.0\\nray_other 1\\n')
    (Sample(name='ray_tasks', labels=(('State', 'RUNNING'),), value=3.0),)
    """
    samples: list[Sample] = []
    for series, name, body, value in _LINE.findall(text):
        if "\\" in body:  # escapes in a label value: the careful parser
            samples.extend(_fallback(f"{series} {value}"))
        else:
            samples.append(Sample(name, (), float(value), series, text=body))
    return tuple(samples)
