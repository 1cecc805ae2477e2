"""Benchmark: what ``RAYOBS_OOM_WATCH_INTERVAL`` costs a worker, per sample.

One worker per memory cgroup holds the lock and samples (reads the counter,
``cgroup.procs`` and each process's name); every other worker only tries the
lock. Both are timed on this process's real memory cgroup, against reading
``/proc/self/statm`` (what ``RAYOBS_WORKER_RSS_INTERVAL`` does per sample).
The CPU share at a 1 s interval is the cost per sample divided by 1 s.
Run ``python benchmarks/bench_oomwatch.py``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rayobs import _oomwatch

ROUNDS = 15
NUMBER = 200


def _median_us(fn: Callable[[], object]) -> float:
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(NUMBER):
            fn()
        samples.append((time.perf_counter() - start) / NUMBER * 1e6)
    return statistics.median(samples)


def run() -> str:
    found = _oomwatch.own_memory_cgroup()
    if found is None:
        return "no memory cgroup with an oom_kill counter here: nothing to measure"
    cgroup, counter = found
    processes = len((cgroup / "cgroup.procs").read_text().split())
    with tempfile.TemporaryDirectory() as logs:
        holder = _oomwatch.Watcher(cgroup, counter, Path(logs))
        other = _oomwatch.Watcher(cgroup, counter, Path(logs))
        holder.tick()
        rows = {
            "sample (the worker holding the lock)": _median_us(holder.tick),
            "try the lock (every other worker)": _median_us(other.tick),
            "read /proc/self/statm (rss sampler)": _median_us(
                lambda: Path("/proc/self/statm").read_bytes()
            ),
        }
    lines = [
        f"cgroup {cgroup} ({processes} processes), median of {ROUNDS} x {NUMBER} samples",
        f"{'case':<40} {'per sample':>11} {'CPU at 1 s':>11}",
    ]
    for case, micros in rows.items():
        lines.append(f"{case:<40} {micros:>9.1f}us {micros / 1e6 * 100:>10.4f}%")
    return "\n".join(lines)


def main() -> None:
    print(run())


if __name__ == "__main__":
    main()
