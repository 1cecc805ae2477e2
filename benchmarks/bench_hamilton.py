"""A 50-node Hamilton dataflow on Ray (``h_ray.RayGraphAdapter``), with and without
``rayobs.hamilton.NodeMetrics``: wall time of one ``execute`` (target <= 1.05x).

Every node is a Ray task, so one execute submits 50 tasks; the adapter counts each
node in the worker that ran it. One execute takes about 0.2 s and single executes
of the same driver vary by tens of percent on a shared 2-core machine, so each
round runs three drivers in rotating order: the bare one, a second bare one, and
the instrumented one. The reported ratio is the median of per-round ratios
against the first bare driver; the second bare driver's ratio, measured the same
way, is the run's noise floor (1.00 on a perfectly quiet machine).
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path

try:
    from benchmarks._env import local_ray, prepare_ray_environment
    from benchmarks._timing import rotating_rounds
except ImportError:  # run as a script
    from _env import local_ray, prepare_ray_environment  # type: ignore[no-redef]
    from _timing import rotating_rounds  # type: ignore[no-redef]

ROUNDS = 40
REPO = Path(__file__).resolve().parent.parent


def _execute_seconds(dr: object) -> float:
    from benchmarks import _hamilton_dag

    start = time.perf_counter()
    result = dr.execute(_hamilton_dag.FINAL, inputs={"seed": 7})  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - start
    assert result, result
    return elapsed


def main() -> None:
    prepare_ray_environment()
    # the workers import benchmarks._hamilton_dag (and this checkout's rayobs)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
    )
    from hamilton import base, driver
    from hamilton.plugins import h_ray

    from benchmarks import _hamilton_dag
    from rayobs.hamilton import NodeMetrics

    with local_ray(2, log_to_driver=False):

        def build(*extra: object) -> object:
            return (
                driver.Builder()
                .with_modules(_hamilton_dag)
                .with_adapters(h_ray.RayGraphAdapter(base.DictResult()), *extra)
                .build()
            )

        drivers = {"bare": build(), "bare again": build(), "rayobs": build(NodeMetrics("bench"))}
        for _ in range(2):  # warm up workers and imports
            for dr in drivers.values():
                _execute_seconds(dr)
        medians, ratios = rotating_rounds(
            {name: functools.partial(_execute_seconds, dr) for name, dr in drivers.items()}, ROUNDS
        )
    bare_s, inst_s = medians["bare"], medians["rayobs"]
    ratio, noise = ratios["rayobs"], ratios["bare again"]
    verdict = "ok" if ratio <= 1.05 else "MISS"
    print(f"Hamilton on Ray: one execute of {_hamilton_dag.NODES} nodes (RayGraphAdapter)")
    print(
        f"  {ROUNDS} rounds, medians: bare {bare_s * 1000:.0f} ms, with NodeMetrics "
        f"{inst_s * 1000:.0f} ms; ratio {ratio:.3f} (target <= 1.05) {verdict}; "
        f"bare against bare {noise:.3f} (the run's noise)"
    )


if __name__ == "__main__":
    main()
