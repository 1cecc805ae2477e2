"""A Ray job with no rayobs decorator, run by tests/integration/test_auto_on_ray.py under
``rayobs run`` (as a driver, and as a ``ray job submit`` entrypoint).

``PREFIX`` starts every function and class name, so each run has series of its own;
``ADDRESS`` is the cluster to join (unset under ``ray job submit``). It prints one
``probe`` line (what the job's first worker saw) and ``DONE``, and exits with
``EXIT_STATUS``.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TypeVar

import numpy as np
import ray
import ray.data

import rayobs.auto

PREFIX = os.environ["PREFIX"]
T = TypeVar("T")


def named(target: T) -> T:
    """This run's name for a function or class (set before @ray.remote sees it)."""
    name = f"{PREFIX}_{target.__name__}"  # type: ignore[attr-defined]
    target.__name__ = target.__qualname__ = name  # type: ignore[attr-defined]
    return target


@ray.remote
@rayobs.auto.skip
@named
def probe() -> tuple[bool, str | None, str | None]:
    """The job's first task, in a fresh worker: did auto mode start there, and how?"""
    auto = sys.modules.get("rayobs.integrations.auto")
    return (
        auto is not None and auto.is_instrumented(),
        os.environ.get("RAYOBS_AUTO"),
        os.environ.get("__RAY_WORKER_PROCESS_SETUP_HOOK_ENV_VAR"),
    )


@ray.remote(max_retries=0)
@named
def square(x: int) -> int:
    if x < 0:
        raise ValueError("negative")
    return x * x


@ray.remote
@named
class Counter:
    def __init__(self) -> None:
        self.total = 0

    def add(self, n: int) -> int:
        self.total += n
        return self.total

    def __call__(self) -> int:
        return self.total


@ray.remote
@named
def nested(n: int) -> int:
    @ray.remote
    @named
    def inner(i: int) -> int:  # defined in the worker: auto mode must be on there
        return i

    return sum(ray.get([inner.remote(i) for i in range(n)]))


@named
def add_one(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"id": batch["id"] + 1}


@named
class Double:
    def __init__(self) -> None:
        self.factor = 2

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"id": row["id"] * self.factor}


def main() -> int:
    ray.init(address=os.environ.get("ADDRESS"), logging_level="WARNING")
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    context.enable_auto_log_stats = False
    print("probe", *ray.get(probe.remote()), flush=True)
    outcomes = []
    for x in (1, 2, 3, -1):
        try:
            outcomes.append(ray.get(square.remote(x)))
        except ray.exceptions.RayTaskError as exc:
            outcomes.append(type(exc.cause).__name__)
    counter = Counter.remote()
    ray.get([counter.add.remote(1), counter.add.remote(2)])
    outcomes.append(ray.get(counter.__call__.remote()))
    outcomes.append(ray.get(nested.remote(3)))
    dataset = (
        ray.data.range(20, override_num_blocks=2)
        .map_batches(add_one, batch_size=5)
        .map(Double, compute=ray.data.ActorPoolStrategy(size=1), num_cpus=0.5)
    )
    outcomes.append(sum(row["id"] for row in dataset.take_all()))
    print("outcomes", *outcomes, flush=True)
    print("DONE", flush=True)
    return int(os.environ.get("EXIT_STATUS", "0"))


if __name__ == "__main__":
    sys.exit(main())
