"""The metrics rayobs itself emits, declared once.

Wrappers, dashboards, alert rules and docs are generated from this module, so
a name changes here or nowhere. Names are as declared; on the Ray backend they
are exported with a ``ray_`` prefix (``rayobs_recording_failures`` →
``ray_rayobs_recording_failures_total``).
"""

from __future__ import annotations

from rayobs._handles import Counter

RECORDING_FAILURES = Counter(
    "rayobs_recording_failures",
    "Samples rayobs failed to record (backend error, tag misuse, metrics agent gone), "
    "by metric and stage. The user's code carried on.",
    tag_keys=("metric", "stage"),
)

CARDINALITY_OVERFLOW = Counter(
    "rayobs_cardinality_overflow",
    "Samples folded into the '__other__' tag values because the metric exceeded its "
    "budget of distinct tag sets in one process.",
    tag_keys=("metric",),
)

INTERNAL = (RECORDING_FAILURES, CARDINALITY_OVERFLOW)
