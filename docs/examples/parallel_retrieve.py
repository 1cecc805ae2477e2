"""Parallel reads from a small "database", counted by an instrumented tracker actor.

After the first example of Ray Core's introduction: eight items, each costing
``item / 10`` seconds to read, read in parallel as tasks, with ``ray.put`` for
the data, ``ray.wait`` with a timeout to handle results as they come, and an
actor that counts the reads. ``rayobs.instrument`` on the task and on the
actor gives both calls, errors, latency and in-flight metrics, nothing else changed.

Run it against a cluster whose metrics Prometheus scrapes::

    python docs/examples/parallel_retrieve.py --address 127.0.0.1:6379

then, in Prometheus::

    sum by (name) (ray_rayobs_calls_total{app="retrieve-example"})
    histogram_quantile(0.9, sum by (le) (
        rate(ray_rayobs_call_duration_seconds_bucket{name="retrieve_task"}[5m])))
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import ray

import rayobs

DATABASE = ["Learning", "Ray", "Flexible", "Distributed", "Python", "for", "Machine", "Learning"]
TAGS = {"app": "retrieve-example"}


@ray.remote
@rayobs.instrument(tags=TAGS)
class DataTracker:
    """Counts the reads made by every task it is handed to."""

    def __init__(self) -> None:
        self.reads = 0

    def increment(self) -> int:
        self.reads += 1
        return self.reads

    def counts(self) -> int:
        return self.reads


@ray.remote
@rayobs.instrument(tags=TAGS)
def retrieve_task(item: int, db: list[str], tracker: Any) -> tuple[int, str]:
    time.sleep(item / 10)  # the cost of reading and processing one item
    # Wait for the count: calls from different callers reach an actor in no set
    # order, and the driver's counts() must come after every increment.
    ray.get(tracker.increment.remote())
    return item, db[item]


def main(address: str | None = None) -> tuple[list[tuple[int, str]], Any]:
    """Read every item in parallel, printing results as they arrive.

    Returns the results in item order, and the tracker: an actor lives as long as
    a handle to it, and so do the metrics it has not exported yet.
    """
    ray.init(address=address, ignore_reinit_error=True)
    db_ref = ray.put(DATABASE)
    tracker = DataTracker.remote()
    ray.get(tracker.counts.remote())  # the actor is up: its start is not part of the timing
    started = time.monotonic()
    pending = [retrieve_task.remote(item, db_ref, tracker) for item in range(len(DATABASE))]
    results: list[tuple[int, str]] = []
    while pending:
        finished, pending = ray.wait(pending, timeout=7.0)
        if not finished:
            raise TimeoutError("no read finished within 7 s")
        for item, word in ray.get(finished):
            print(f"{time.monotonic() - started:5.2f} s  ({item}, {word!r})")
            results.append((item, word))
    print(f"tracker counted {ray.get(tracker.counts.remote())} reads")
    return sorted(results), tracker


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--address",
        help="Ray cluster to join (default: the one `ray start` ran here, else a new local one)",
    )
    args = parser.parse_args()
    results, tracker = main(args.address)
