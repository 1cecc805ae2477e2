"""Ray Data on the real cluster: instrumented functions and callable classes in ``map``,
``map_batches``, ``flat_map`` and ``filter``, in tasks and in actor pools.

Every pipeline runs bare and instrumented: the rows must be the same, and Prometheus,
scraping the real node, must show exactly one call per row or batch, per name and
outcome (a class's own ``__init__`` once per actor). Datasets stay small: 4 blocks of 10 rows.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import ray

from tests import requires

requires.module("pyarrow", "data")
import ray.data  # noqa: E402
from ray.data import ActorPoolStrategy  # noqa: E402

import rayobs  # noqa: E402
from tests.harness import Prometheus, RayCluster  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context"),
    pytest.mark.filterwarnings("ignore:Use 'expr' instead of 'fn'"),  # a filter by function
]

ROWS, BLOCKS, BATCH = 40, 4, 5
QUIET = {
    "enable_progress_bars": False,
    "enable_operator_progress_bars": False,
    "print_on_execution_start": False,
    "enable_auto_log_stats": False,
    "verbose_stats_logs": False,
}


@pytest.fixture(scope="module")
def data(ray_driver: RayCluster) -> Iterator[ray.data.DataContext]:
    """Ray Data on the session's cluster, without progress bars and execution logs."""
    context = ray.data.DataContext.get_current()
    saved = {key: getattr(context, key) for key in QUIET}
    logger = logging.getLogger("ray.data")
    level = logger.level
    for key, value in QUIET.items():
        setattr(context, key, value)
    logger.setLevel(logging.WARNING)
    try:
        yield context
    finally:
        for key, value in saved.items():
            setattr(context, key, value)
        logger.setLevel(level)


def totals(prometheus: Prometheus, prefix: str) -> dict[str, float]:
    query = (
        f'sum by (name, outcome) (max_over_time(ray_rayobs_calls_total{{name=~"{prefix}.*"}}[10m]))'
    )
    return {
        f"{r['metric']['name']}/{r['metric']['outcome']}": float(r["value"][1])
        for r in prometheus.query(query)
    }


def wait_for_totals(prometheus: Prometheus, prefix: str, want: dict[str, float]) -> None:
    deadline = time.monotonic() + 60
    seen: dict[str, float] = {}
    while time.monotonic() < deadline:
        seen = totals(prometheus, prefix)
        if seen == want:
            return
        time.sleep(1)
    assert seen == want, f"seen {seen}"


def rows(dataset: ray.data.Dataset) -> list[dict[str, Any]]:
    return sorted(dataset.take_all(), key=lambda row: sorted(row.items()))


def source() -> ray.data.Dataset:
    return ray.data.range(ROWS, override_num_blocks=BLOCKS)


# ---------------------------------------------------------------- functions, in tasks


def double(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"] * 2}


def explode(row: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"id": row["id"]}, {"id": row["id"] + 1}]


def is_even(row: dict[str, Any]) -> bool:
    return bool(row["id"] % 2 == 0)


def add_one(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"id": batch["id"] + 1}


def pipeline(map_fn: Any, flat_fn: Any, filter_fn: Any, batch_fn: Any, **options: Any) -> Any:
    """map, flat_map, filter, map_batches: 40, 40, 80 and 8 calls (40 rows kept, batches of 5)."""
    per_op = options.pop("per_op", lambda: {})
    return (
        source()
        .map(map_fn, **per_op())
        .flat_map(flat_fn, **per_op())
        .filter(filter_fn, **per_op())
        .map_batches(batch_fn, batch_size=BATCH, **per_op(), **options)
    )


def test_functions_in_tasks_count_every_row_and_batch(
    data: ray.data.DataContext, prometheus: Prometheus
) -> None:
    bare = rows(pipeline(double, explode, is_even, add_one))
    instrumented = pipeline(
        *(
            rayobs.instrument(fn, name=f"data_task_{fn.__name__}")
            for fn in (double, explode, is_even, add_one)
        )
    )
    assert rows(instrumented) == bare
    assert len(bare) == ROWS
    wait_for_totals(
        prometheus,
        "data_task_",
        {
            "data_task_double/ok": 40.0,
            "data_task_explode/ok": 40.0,
            "data_task_is_even/ok": 80.0,
            "data_task_add_one/ok": 8.0,
        },
    )


# ---------------------------------------------------------------- callable classes, in actors


class Double:
    def __init__(self, factor: int = 2) -> None:
        self.factor = factor

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"id": row["id"] * self.factor}


class Explode:
    def __call__(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"id": row["id"]}, {"id": row["id"] + 1}]


class IsEven:
    def __call__(self, row: dict[str, Any]) -> bool:
        return bool(row["id"] % 2 == 0)


class AsyncAddOne:
    async def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        await asyncio.sleep(0)
        return {"id": batch["id"] + 1}


def _one_small_actor() -> dict[str, Any]:
    # four pools of one actor each on a 2-CPU node, beside the read tasks
    return {"compute": ActorPoolStrategy(size=1), "num_cpus": 0.25}


def test_callable_classes_in_actor_pools_count_every_call_and_each_actor(
    data: ray.data.DataContext, prometheus: Prometheus
) -> None:
    classes = (Double, Explode, IsEven, AsyncAddOne)
    bare = rows(pipeline(*classes, per_op=_one_small_actor))
    instrumented = [
        rayobs.instrument(type(cls.__name__, (cls,), {}), name=f"data_actor_{cls.__name__}")
        for cls in classes
    ]
    assert rows(pipeline(*instrumented, per_op=_one_small_actor)) == bare
    wait_for_totals(
        prometheus,
        "data_actor_",
        {
            "data_actor_Double.__init__/ok": 1.0,
            "data_actor_Double.__call__/ok": 40.0,
            "data_actor_Explode.__call__/ok": 40.0,
            "data_actor_IsEven.__call__/ok": 80.0,
            "data_actor_AsyncAddOne.__call__/ok": 8.0,
        },
    )


@rayobs.instrument(name="data_concurrency_AddOne")
class AddOne:
    """The shape of Ray Data's own example: ``ds.map_batches(AddOne, concurrency=1)``."""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"id": batch["id"] + 1}


def test_map_batches_with_concurrency(data: ray.data.DataContext, prometheus: Prometheus) -> None:
    out = rows(source().map_batches(AddOne, batch_size=BATCH, concurrency=1))
    assert out == [{"id": i + 1} for i in range(ROWS)]
    wait_for_totals(
        prometheus,
        "data_concurrency_",
        {"data_concurrency_AddOne.__call__/ok": 8.0},
    )


# ---------------------------------------------------------------- a failing function


def fails_at_three(row: dict[str, Any]) -> dict[str, Any]:
    if row["id"] == 3:
        raise ValueError(f"row {row['id']} is bad")
    return row


def _failure(fn: Any) -> tuple[str, str]:
    with pytest.raises(Exception) as info:
        ray.data.range(10, override_num_blocks=1).map(fn).take_all()
    text = re.sub(r"pid=\d+", "pid=N", str(info.value))
    return type(info.value).__name__, re.sub(r"dataset_\w+", "dataset_X", text)


def test_a_failing_function_fails_the_same_and_counts_up_to_its_failure(
    data: ray.data.DataContext, prometheus: Prometheus
) -> None:
    bare = _failure(fails_at_three)
    instrumented = _failure(rayobs.instrument(fails_at_three, name="data_fails"))
    assert instrumented == bare
    assert "ValueError: row 3 is bad" in bare[1]
    # one block, rows in order: 0, 1, 2 pass, 3 raises and ends the task (no retry)
    wait_for_totals(prometheus, "data_fails", {"data_fails/ok": 3.0, "data_fails/error": 1.0})
