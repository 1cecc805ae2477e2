"""User handles for the dashboards' PromQL proof: one of each type, plus two provocations.

Imported by the test and, through Ray's pickling by reference, by the worker
running ``Recorder``: both get the same declarations.
"""

from __future__ import annotations

import time

import ray

import rayobs

ITEMS = rayobs.Counter("dash_proof_items", "Items handled.", tag_keys=("step",))
LEVEL = rayobs.Gauge("dash_proof_level", "Items waiting.", tag_keys=("step",))
STEP_SECONDS = rayobs.Histogram(
    "dash_proof_step_seconds",
    "Time per step.",
    boundaries=(0.001, 0.005, 0.02, 0.1, 1.0),
    tag_keys=("step",),
    unit="seconds",
)
# One distinct tag set allowed: the second key overflows into '__other__'.
BUDGETED = rayobs.Counter(
    "dash_proof_budgeted", "Over budget.", tag_keys=("key",), max_cardinality=1
)


@ray.remote
@rayobs.instrument(tags={"app": "dash_proof", "component": "ingest"})
def ingest(batch: int) -> int:
    """A call tagged with a component, as a Serve deployment or a Hamilton dataflow tags theirs."""
    return batch * 2


@ray.remote
class Recorder:
    """Records into every handle; lives as long as the test needs its gauge exported."""

    def round(self, i: int) -> int:
        for step in ("parse", "store"):
            ITEMS.inc(2, tags={"step": step})
            LEVEL.set(10 + i % 5, tags={"step": step})
            STEP_SECONDS.observe(0.002 * (1 + i % 10), tags={"step": step})
        BUDGETED.inc(tags={"key": f"k{i % 3}"})
        # Spread over several exports, so rates over the counters are not flat.
        time.sleep(0.25)
        return i

    def misuse(self) -> None:
        """A failed recording: counted in rayobs_recording_failures, never raised here."""
        LEVEL.set("not a number", tags={"step": "parse"})  # type: ignore[arg-type]
