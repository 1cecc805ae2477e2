"""A 50-node Hamilton dataflow on Ray (``h_ray.RayGraphAdapter``), with and without
``rayobs.hamilton.NodeMetrics``: wall time of one ``execute`` (target <= 1.05x).

Every node is a Ray task, so one execute submits 50 tasks; the adapter counts each
node in the worker that ran it. Rounds alternate which driver goes first (ABBA),
and the reported ratio is the median of per-round ratios.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

try:
    from benchmarks._env import local_ray, prepare_ray_environment
except ImportError:  # run as a script
    from _env import local_ray, prepare_ray_environment  # type: ignore[no-redef]

ROUNDS = 15
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

        bare, instrumented = build(), build(NodeMetrics("bench"))
        for dr in (bare, instrumented, bare, instrumented):  # warm up workers and imports
            _execute_seconds(dr)
        samples: dict[str, list[float]] = {"bare": [], "rayobs": []}
        ratios = []
        for round_ in range(ROUNDS):
            order = [("bare", bare), ("rayobs", instrumented)]
            measured = {}
            for key, dr in order if round_ % 2 == 0 else reversed(order):
                measured[key] = _execute_seconds(dr)
                samples[key].append(measured[key])
            ratios.append(measured["rayobs"] / measured["bare"])
    bare_s, inst_s = (statistics.median(samples[k]) for k in ("bare", "rayobs"))
    ratio = statistics.median(ratios)
    verdict = "ok" if ratio <= 1.05 else "MISS"
    print(f"Hamilton on Ray: one execute of {_hamilton_dag.NODES} nodes (RayGraphAdapter)")
    print(
        f"  {ROUNDS} ABBA rounds, medians: bare {bare_s * 1000:.0f} ms, with NodeMetrics "
        f"{inst_s * 1000:.0f} ms; ratio {ratio:.3f} (target <= 1.05) {verdict}"
    )


if __name__ == "__main__":
    main()
