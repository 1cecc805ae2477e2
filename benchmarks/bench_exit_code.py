"""Benchmark: ``rayobs exit-code 137`` as a whole process, against ``ray --help``.

During an incident the answer has to come back at once, so what counts is the
wall time of the whole process: interpreter start, imports, classification,
output. Run ``python benchmarks/bench_exit_code.py`` (exit status 1 when the
limit is exceeded), or call :func:`main`, which only prints.

Runs are interleaved (one of each command per round) so that load from other
processes hits every command alike; the table gives medians over the rounds.

Limit checked: ``rayobs exit-code 137`` <= 0.15 s. For scale, ``ray --help``
(the Ray CLI's cheapest command) and a bare ``python -c pass``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROUNDS = 11
LIMIT_S = 0.15

BIN = Path(sys.executable).parent
COMMANDS = {
    "rayobs exit-code 137": [str(BIN / "rayobs"), "exit-code", "137"],
    "rayobs exit-code 137 --format json": [
        str(BIN / "rayobs"),
        "exit-code",
        "137",
        "--format",
        "json",
    ],
    "ray --help": [str(BIN / "ray"), "--help"],
    "python -c pass": [sys.executable, "-c", "pass"],
}


def wall_times(commands: dict[str, list[str]], rounds: int) -> dict[str, float]:
    """Median wall seconds of each command, one run of each per round."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for argv in commands.values():  # warm the page cache and .pyc files
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    for _ in range(rounds):
        for name, argv in commands.items():
            start = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def run(rounds: int = ROUNDS) -> tuple[str, bool]:
    """The report and whether ``rayobs exit-code 137`` stayed within the limit."""
    medians = wall_times(COMMANDS, rounds)
    ours = medians["rayobs exit-code 137"]
    ray_help = medians["ray --help"]
    lines = [
        f"whole-process wall time, median of {rounds} interleaved rounds",
        f"{'command':<38} {'median':>9} {'vs ray --help':>14}",
    ]
    for name, seconds in medians.items():
        lines.append(f"{name:<38} {seconds * 1000:>7.0f}ms {seconds / ray_help:>13.3f}x")
    ok = ours <= LIMIT_S
    lines.append(
        f"rayobs exit-code 137 is {ray_help / ours:.1f}x faster than ray --help; "
        f"limit {LIMIT_S * 1000:.0f} ms: {'ok' if ok else 'MISS'}"
    )
    return "\n".join(lines), ok


def main() -> None:
    report, _ok = run()
    print(report)


if __name__ == "__main__":
    text, within = run()
    print(text)
    sys.exit(0 if within else 1)
