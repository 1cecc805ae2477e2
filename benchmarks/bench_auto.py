"""Cost of auto mode (rayobs.auto) against the decorator it stands in for.

- In process: a function made remote under auto mode runs the same wrapper as
  ``@rayobs.instrument``. Its overhead over a bare call, against the decorator's:
  target <= 1.05x (prometheus backend, background push paused while timing).
- On Ray: no-op task round trips, an auto-instrumented task with auto mode on
  (``.remote()`` also passes through the wrapper that notes serialization errors)
  against a decorated task with auto mode off; ABBA rounds, median of the
  per-round ratios of time per task: target <= 1.05x.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

try:
    from benchmarks._env import local_ray, prepare_ray_environment
    from benchmarks._timing import per_call_ns
except ImportError:  # run as a script
    from _env import local_ray, prepare_ray_environment  # type: ignore[no-redef]
    from _timing import per_call_ns  # type: ignore[no-redef]

NUMBER = 20_000
REPEAT = 21
TARGET = 1.05


def _noop(x: int) -> int:
    return x


def _noop_auto(x: int) -> int:
    return x


def _in_process() -> dict[str, float]:
    import ray

    import rayobs
    import rayobs.auto
    from rayobs.calls import _flusher

    rayobs.configure(backend="prometheus")
    decorated = rayobs.instrument(_noop, name="bench_decorated")
    rayobs.auto.instrument()
    try:
        auto = ray.remote(_noop_auto)._function  # what a worker runs
    finally:
        rayobs.auto.uninstrument()
    try:
        with _flusher.paused():
            return per_call_ns(
                {
                    "bare": lambda: _noop(1),
                    "decorator": lambda: decorated(1),
                    "auto": lambda: auto(1),
                },
                NUMBER,
                REPEAT,
            )
    finally:
        rayobs.configure(backend=None)


def _on_ray(ray: Any, rounds: int = 12, n: int = 1000) -> dict[str, float]:
    import rayobs
    import rayobs.auto

    decorated = ray.remote(rayobs.instrument(_noop, name="bench_task_decorated"))
    rayobs.auto.instrument()
    auto = ray.remote(_noop_auto)
    ray.get([decorated.remote(0), auto.remote(0)])

    def seconds_per_task(remote: Any, auto_mode: bool) -> float:
        (rayobs.auto.instrument if auto_mode else rayobs.auto.uninstrument)()
        start = time.perf_counter()
        ray.get([remote.remote(i) for i in range(n)])
        return (time.perf_counter() - start) / n

    ratios, per_task = [], {"decorator": [], "auto": []}  # type: ignore[var-annotated]
    for round_ in range(rounds):  # ABBA: order swapped each round
        order = [("decorator", decorated, False), ("auto", auto, True)]
        measured = {}
        for name, remote, auto_mode in order if round_ % 2 == 0 else reversed(order):
            measured[name] = seconds_per_task(remote, auto_mode)
            per_task[name].append(measured[name])
        ratios.append(measured["auto"] / measured["decorator"])
    rayobs.auto.uninstrument()
    result = {name: statistics.median(values) for name, values in per_task.items()}
    result["ratio"] = statistics.median(ratios)
    return result


def main() -> None:
    prepare_ray_environment()
    t = _in_process()
    with local_ray(2) as ray:
        tasks = _on_ray(ray)

    decorator, auto = t["decorator"] - t["bare"], t["auto"] - t["bare"]
    verdict = "ok" if auto / decorator <= TARGET else "MISS"
    print("in-process cost of one call (median ns, prometheus backend)")
    print(f"  bare {t['bare']:.0f}  decorator {t['decorator']:.0f}  auto {t['auto']:.0f}")
    print(
        f"  overhead: decorator {decorator:.0f} ns, auto {auto:.0f} ns, "
        f"auto/decorator {auto / decorator:.3f}x (target <= {TARGET:.2f}x) {verdict}"
    )
    verdict = "ok" if tasks["ratio"] <= TARGET else "MISS"
    print("Ray no-op task round trips (12 ABBA rounds of 1000; median of per-round ratios)")
    print(
        f"  decorator, auto mode off {tasks['decorator'] * 1e6:.0f} us/task  "
        f"auto mode {tasks['auto'] * 1e6:.0f} us/task  "
        f"auto/decorator {tasks['ratio']:.3f}x (target <= {TARGET:.2f}x) {verdict}"
    )


if __name__ == "__main__":
    main()
