"""Ray Data: ``map_batches`` over 1,000 small batches, instrumented against bare.

Wall time of a whole dataset run (4,000 rows in 20 blocks, batches of 4): a
function in tasks, and a callable class in an actor pool of one. Each round runs
the bare UDF, an identical second bare UDF and the instrumented one, in rotating
order; the ratio is the median of per-round ratios to the first bare UDF (target
<= 1.03x), and the second bare UDF's ratio is the run's noise. An instrumented
call costs a few microseconds, Ray Data a few hundred per batch: the difference
is expected to be lost in that noise.
"""

from __future__ import annotations

import functools
import time
from typing import Any

try:
    from benchmarks._env import local_ray, prepare_ray_environment
    from benchmarks._timing import rotating_rounds
except ImportError:  # run as a script
    from _env import local_ray, prepare_ray_environment  # type: ignore[no-redef]
    from _timing import rotating_rounds  # type: ignore[no-redef]

ROWS, BLOCKS, BATCH = 4_000, 20, 4  # 1,000 batches
# single runs spread by 0.2 to 0.3 around 1: the median needs many
ROUNDS = {"tasks": 30, "actor": 16}
TARGET = 1.03


def add_one(batch: dict[str, Any]) -> dict[str, Any]:
    return {"id": batch["id"] + 1}


def add_one_again(batch: dict[str, Any]) -> dict[str, Any]:
    return {"id": batch["id"] + 1}


class AddOne:
    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {"id": batch["id"] + 1}


class AddOneAgain:
    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {"id": batch["id"] + 1}


def _run(ray: Any, fn: Any, **options: Any) -> float:
    start = time.perf_counter()
    dataset = ray.data.range(ROWS, override_num_blocks=BLOCKS)
    total = sum(
        len(batch["id"])
        for batch in dataset.map_batches(fn, batch_size=BATCH, **options).iter_batches(
            batch_size=None
        )
    )
    assert total == ROWS
    return time.perf_counter() - start


def _compare(ray: Any, udfs: dict[str, Any], rounds: int, **options: Any) -> dict[str, float]:
    for fn in udfs.values():  # warm-up: workers, imports
        _run(ray, fn, **options)
    runs = {name: functools.partial(_run, ray, fn, **options) for name, fn in udfs.items()}
    medians, ratios = rotating_rounds(runs, rounds)
    return {
        "bare": medians["bare"],
        "rayobs": medians["rayobs"],
        "ratio": ratios["rayobs"],
        "noise": ratios["bare again"],
    }


def main() -> None:
    prepare_ray_environment()
    import ray
    import ray.data

    import rayobs

    with local_ray(2):
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        context.enable_auto_log_stats = False
        functions = {
            "bare": add_one,
            "bare again": add_one_again,
            "rayobs": rayobs.instrument(add_one, name="bench_data_task"),
        }
        tasks = _compare(ray, functions, ROUNDS["tasks"])
        classes = {
            "bare": AddOne,
            "bare again": AddOneAgain,
            "rayobs": rayobs.instrument(type("AddOne", (AddOne,), {}), name="bench_data_actor"),
        }
        pool = ray.data.ActorPoolStrategy(size=1)
        actors = _compare(ray, classes, ROUNDS["actor"], compute=pool)

    print(f"Ray Data map_batches, 1,000 batches of {BATCH} rows (rotating rounds, medians)")
    for name, key, r in (("function, tasks", "tasks", tasks), ("class, 1 actor", "actor", actors)):
        verdict = "ok" if r["ratio"] <= TARGET else "MISS"
        print(
            f"  {name:<16} {ROUNDS[key]} rounds: bare {r['bare']:.2f} s  instrumented "
            f"{r['rayobs']:.2f} s  ratio {r['ratio']:.3f}x (target <= {TARGET:.2f}x) {verdict}; "
            f"bare against bare {r['noise']:.3f}x (the run's noise)"
        )


if __name__ == "__main__":
    main()
