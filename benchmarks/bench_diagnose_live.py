"""Benchmark: live ``rayobs diagnose --address`` on a three-node cluster, against ``ray list``.

The cluster of the multi-node test tier (head and two nodes of
``ray.cluster_utils.Cluster`` on 127.0.0.1, no cgroup here), with one worker on
each node that vanished (``os._exit(1)``: Ray records no cause, so diagnose asks
every node for its kernel log and cgroup counters). Timed as whole processes,
interleaved, medians: diagnose with node evidence (the default), diagnose
without it (``--no-node-evidence``), and ``ray list workers --detail``, which
lists the same dead workers and explains none of them.
``python benchmarks/bench_diagnose_live.py``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import textwrap
import time

from benchmarks._env import prepare_ray_environment

ROUNDS = 3
BIN = os.path.dirname(sys.executable)
DRIVER = textwrap.dedent(
    """
    import os, sys
    import ray

    ray.init(address=sys.argv[1], logging_level="ERROR")

    @ray.remote(max_retries=0)
    def vanish():
        os._exit(1)

    for node in ("head", "limited", "monitor"):
        try:
            ray.get(vanish.options(resources={node: 1}).remote(), timeout=60)
        except ray.exceptions.RayError:
            pass
    """
)


def run(rounds: int = ROUNDS) -> str:
    prepare_ray_environment()
    from tests.multinode import MultiNodeCluster

    cluster = MultiNodeCluster.start(dict(os.environ), None)
    try:
        env = cluster.env
        subprocess.run(
            [sys.executable, "-c", DRIVER, cluster.address],
            env=env,
            check=True,
            timeout=180,
            capture_output=True,
        )
        diagnose = [sys.executable, "-m", "rayobs", "diagnose", "--address", cluster.address]
        commands = {
            "rayobs diagnose --address": [*diagnose, "--format", "json"],
            "rayobs diagnose --no-node-evidence": [*diagnose, "--no-node-evidence"],
            "ray list workers --detail": [
                os.path.join(BIN, "ray"),
                "list",
                "workers",
                "--detail",
                "--address",
                cluster.dashboard_url,
            ],
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(rounds):
            for name, argv in commands.items():
                start = time.perf_counter()
                subprocess.run(argv, env=env, capture_output=True, check=True, timeout=180)
                samples[name].append(time.perf_counter() - start)
    finally:
        cluster.stop()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    base = medians["ray list workers --detail"]
    lines = [f"three-node cluster, 3 vanished workers; median of {rounds} interleaved rounds"]
    lines += [f"{n:<36} {s:>6.2f} s {s / base:>6.1f}x" for n, s in medians.items()]
    return "\n".join(lines)


def main() -> None:
    print(run())


if __name__ == "__main__":
    main()
