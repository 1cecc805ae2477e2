"""Benchmark: ``rayobs memory --format json`` against ``ray memory`` with 10,000 live references.

Both commands run as whole processes against the same small cluster, started
here on 127.0.0.1 (its own temp dir and token, stopped at the end: exactly that
cluster, never ``ray stop``). A driver process holds 10,000 ``ray.put``
references for the duration. Runs are interleaved (one of each per round) so
load from other processes hits both alike; the table gives medians.

Run ``python -m benchmarks memory`` (or this file; exit status 1 when the ratio
misses the target). Target: rayobs / ray memory <= 1.1.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.harness import RayCluster

REFS = 10_000
ROUNDS = 7
TARGET = 1.1
REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

HOLDER = textwrap.dedent(
    """
    import os, sys
    import ray

    ray.init(address=os.environ["RAYOBS_BENCH_ADDRESS"], logging_level="WARNING")
    refs = [ray.put(i) for i in range(int(os.environ["RAYOBS_BENCH_REFS"]))]
    print("ready", flush=True)
    sys.stdin.read()  # hold the references until the benchmark closes stdin
    """
)


def _commands(cluster: RayCluster) -> dict[str, list[str]]:
    return {
        "rayobs memory --format json": [
            str(BIN / "rayobs"),
            "memory",
            "--address",
            cluster.address,
            "--format",
            "json",
        ],
        "ray memory": [str(BIN / "ray"), "memory", "--address", cluster.address],
    }


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{argv[0]} {argv[1]} failed: {result.stderr.strip()[-500:]}")
    return elapsed, result.stdout


def _measure(cluster: RayCluster, rounds: int) -> tuple[dict[str, float], int, int]:
    """Medians per command, plus the references each one reported (a sanity check)."""
    commands = _commands(cluster)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    outputs: dict[str, str] = {}
    for name, argv in commands.items():  # warm-up: page cache, .pyc files, gRPC channels
        outputs[name] = _run(argv, cluster.env)[1]
    for _ in range(rounds):
        for name, argv in commands.items():
            samples[name].append(_run(argv, cluster.env)[0])
    ours = len(json.loads(outputs["rayobs memory --format json"])["refs"])
    theirs = sum(1 for line in outputs["ray memory"].splitlines() if "LOCAL_REFERENCE" in line)
    return {name: statistics.median(values) for name, values in samples.items()}, ours, theirs


def run(refs: int = REFS, rounds: int = ROUNDS) -> tuple[str, bool]:
    """Start a cluster, hold ``refs`` references, time both commands; the report and the verdict."""
    sys.path.insert(0, str(REPO))
    from tests.harness import RayCluster

    cluster = RayCluster.start(num_cpus=1)
    holder: subprocess.Popen[str] | None = None
    try:
        env = {
            **cluster.env,
            "RAYOBS_BENCH_ADDRESS": cluster.address,
            "RAYOBS_BENCH_REFS": str(refs),
        }
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert holder.stdout is not None
        if holder.stdout.readline().strip() != "ready":
            raise RuntimeError("the driver holding the references did not start")
        medians, ours, theirs = _measure(cluster, rounds)
    finally:
        if holder is not None:
            holder.communicate(input="", timeout=60)
        cluster.stop()
    rayobs_s = medians["rayobs memory --format json"]
    ray_s = medians["ray memory"]
    ratio = rayobs_s / ray_s
    ok = ratio <= TARGET
    lines = [
        f"{refs} live references held by one driver; median of {rounds} interleaved rounds",
        f"{'command':<30} {'median':>9} {'references seen':>16}",
        f"{'rayobs memory --format json':<30} {rayobs_s * 1000:>7.0f}ms {ours:>16}",
        f"{'ray memory':<30} {ray_s * 1000:>7.0f}ms {theirs:>16}",
        f"ratio rayobs / ray memory: {ratio:.2f} "
        f"(target <= {TARGET:.2f}): {'ok' if ok else 'MISS'}",
    ]
    return "\n".join(lines), ok


def main() -> None:
    report, _ok = run()
    print(report)


if __name__ == "__main__":
    text, within = run()
    print(text)
    sys.exit(0 if within else 1)
