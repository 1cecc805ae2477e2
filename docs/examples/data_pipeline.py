"""Ray Data with rayobs: a function in tasks and a callable class in an actor pool.

Every batch and row call is counted in the process that runs it, and the rows are
exactly what they would be without rayobs::

    python docs/examples/data_pipeline.py --address 127.0.0.1:6379

then ask Prometheus for ``sum by (name, outcome) (ray_rayobs_calls_total{app="data-example"})``.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import ray

import rayobs

PRICES = [0.5, 12.0, 3.25, 40.0, 7.5, 19.99, 1.0, 250.0, 5.0, 10.0, 99.0, 0.25]


@rayobs.instrument(tags={"app": "data-example"})
def to_cents(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Once per batch, in Ray Data's map tasks."""
    return {"cents": np.round(batch["price"] * 100).astype(np.int64)}


@rayobs.instrument(tags={"app": "data-example"})
class Classifier:
    """Built once per actor of the pool (``__init__``), then called once per row."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"cents": row["cents"], "expensive": bool(row["cents"] >= self.threshold)}


def main(address: str | None = None) -> list[int]:
    """Classify the prices; return the expensive ones, in cents."""
    ray.init(address=address, ignore_reinit_error=True)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # keep the example's output to its own lines
    context.print_on_execution_start = False
    prices = ray.data.from_items([{"price": p} for p in PRICES], override_num_blocks=2)
    classified = prices.map_batches(to_cents, batch_size=3).map(
        Classifier,
        fn_constructor_kwargs={"threshold": 1000},
        compute=ray.data.ActorPoolStrategy(size=1),
        num_cpus=0.5,
    )
    expensive = sorted(row["cents"] for row in classified.take_all() if row["expensive"])
    print(f"{len(PRICES)} prices, {len(expensive)} of 10.00 or more: {expensive}")
    return expensive


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--address",
        help="Ray cluster to join (default: the one `ray start` ran here, else a new local one)",
    )
    main(parser.parse_args().address)
