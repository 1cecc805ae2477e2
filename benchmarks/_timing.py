"""Shared timing helpers: medians of interleaved repeats, so drift hits both sides alike."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def per_call_ns(fns: dict[str, Callable[[], None]], number: int, repeat: int) -> dict[str, float]:
    """Median nanoseconds per call of each zero-argument function, repeats interleaved."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():  # warm-up: lazy creation, caches
        for _ in range(1000):
            fn()
    for _ in range(repeat):
        for name, fn in fns.items():
            loop = _loop(fn, number)
            start = time.perf_counter_ns()
            loop()
            samples[name].append((time.perf_counter_ns() - start) / number)
    return {name: statistics.median(values) for name, values in samples.items()}


def _loop(fn: Callable[[], None], number: int) -> Callable[[], None]:
    rng = range(number)

    def run() -> None:
        for _ in rng:
            fn()

    return run


def table(title: str, rows: list[tuple[str, float, float, float | None]]) -> str:
    """Render ``(case, ours_ns, baseline_ns, target_ratio)`` rows with their ratios."""
    lines = [title, f"{'case':<44} {'rayobs':>10} {'baseline':>10} {'ratio':>7} {'target':>7}"]
    for case, ours, base, target in rows:
        ratio = ours / base
        verdict = "" if target is None else ("ok" if ratio <= target else "MISS")
        tgt = "" if target is None else f"<={target:.2f}"
        lines.append(f"{case:<44} {ours:>8.0f}ns {base:>8.0f}ns {ratio:>7.2f} {tgt:>7} {verdict}")
    return "\n".join(lines)


def rotating_rounds(
    runs: dict[str, Callable[[], float]], rounds: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Each round runs every case once, starting one further along each time.

    ``runs`` maps a case to a function that does one run and returns its
    measurement (seconds, or a rate); the first case is the baseline. Returns each
    case's median measurement and its median per-round ratio to the baseline.
    Give a second copy of the baseline as a case to see the run's noise: its
    ratio would be 1.00 on a quiet machine.
    """
    names = list(runs)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    ratios: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        turn = round_ % len(names)
        measured = {name: runs[name]() for name in names[turn:] + names[:turn]}
        for name, value in measured.items():
            seconds[name].append(value)
            ratios[name].append(value / measured[names[0]])
    return (
        {name: statistics.median(values) for name, values in seconds.items()},
        {name: statistics.median(values) for name, values in ratios.items()},
    )
