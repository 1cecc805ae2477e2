"""Throughput of no-op Ray tasks and actor calls with the worker setup hook's profilers on vs off.

One local Ray (2 CPUs, 127.0.0.1) and one driver whose job runtime env sets
``rayobs.hooks.setup_worker``. The hook's features are switched per task or
actor through ``runtime_env={"env_vars": ...}`` (Ray merges them with the
job's), so the baseline and each variant run in the same cluster and the same
run, in interleaved rounds; the table shows medians, and the range of the
per-round ratios. The baseline has the hook
with its defaults (faulthandler only).

It runs in a fresh interpreter: Ray reads its auth and loopback settings once,
when first imported, and this run uses a token file in a temp dir so nothing
is written to ``~/.ray``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rayobs.demo._local_ray import init_local, loopback_env, new_token

CALLS = 500
ROUNDS = 15


def _measure(temp: Path) -> dict[str, dict[str, float]]:
    """Runs in the child process: ``{kind: {variant[:stat]: value}}``."""
    import ray

    init_local(
        2,
        _temp_dir=str(temp / "ray"),
        log_to_driver=False,
        runtime_env={"worker_process_setup_hook": "rayobs.hooks.setup_worker"},
        # Each variant has its own worker pool (runtime envs differ): keep all of them alive,
        # or rounds would mostly measure workers being killed and started again.
        _system_config={
            "num_workers_soft_limit": 12,
            "idle_worker_killing_time_threshold_ms": 600_000,
        },
    )
    variants: dict[str, dict[str, str]] = {
        "baseline": {},
        "cprofile": {"RAYOBS_WORKER_CPROFILE_DIR": str(temp / "profiles")},
        "rss": {"RAYOBS_WORKER_RSS_INTERVAL": "1"},
    }

    # Each call reports its worker's pid and CPU time: the difference between consecutive
    # calls on one worker is that worker's CPU per call, which other load on the machine
    # barely changes, unlike calls per second.
    @ray.remote
    def noop() -> tuple[int, float]:
        return os.getpid(), time.process_time()

    @ray.remote
    class Noop:
        def call(self) -> tuple[int, float]:
            return os.getpid(), time.process_time()

    def options(env: dict[str, str]) -> dict[str, Any]:
        return {"runtime_env": {"env_vars": env}} if env else {}

    tasks = {name: noop.options(**options(env)) for name, env in variants.items()}
    actors = {name: Noop.options(**options(env)).remote() for name, env in variants.items()}
    runners: dict[str, dict[str, Any]] = {
        "tasks": {
            n: (lambda f=f: ray.get([f.remote() for _ in range(CALLS)])) for n, f in tasks.items()
        },
        "actor calls": {
            n: (lambda a=a: ray.get([a.call.remote() for _ in range(CALLS)]))
            for n, a in actors.items()
        },
    }
    results: dict[str, dict[str, float]] = {}
    for kind, fns in runners.items():
        rates: dict[str, list[float]] = {name: [] for name in fns}
        cpu: dict[str, list[float]] = {name: [] for name in fns}
        for fn in fns.values():  # warm-up: worker start, imports, the hook itself
            fn()
        for _ in range(ROUNDS):  # interleaved, so load from elsewhere hits every variant alike
            for name, fn in fns.items():
                start = time.perf_counter()
                stamps = fn()
                rates[name].append(CALLS / (time.perf_counter() - start))
                cpu[name].append(_cpu_per_call(stamps))
        results[kind] = {}
        for name in fns:
            ratios = sorted(v / b for v, b in zip(rates[name], rates["baseline"], strict=True))
            results[kind][name] = statistics.median(rates[name])
            results[kind][f"{name}:ratio"] = statistics.median(ratios)
            results[kind][f"{name}:low"] = ratios[0]
            results[kind][f"{name}:high"] = ratios[-1]
            results[kind][f"{name}:cpu_us"] = statistics.median(cpu[name]) * 1e6
    profiles = list((temp / "profiles").glob("worker-*.prof"))
    results["check"] = {"cprofile_files": float(len(profiles))}
    ray.shutdown()
    return results


def _cpu_per_call(stamps: list[tuple[int, float]]) -> float:
    """Seconds of worker CPU per call, from consecutive calls' (pid, process_time)."""
    by_pid: dict[int, list[float]] = {}
    for pid, cpu in stamps:
        by_pid.setdefault(pid, []).append(cpu)
    spent = sum(max(times) - min(times) for times in by_pid.values())
    intervals = sum(len(times) - 1 for times in by_pid.values())
    return spent / max(intervals, 1)


def _run_child() -> dict[str, dict[str, float]]:
    temp = Path(tempfile.mkdtemp(prefix="rxb-", dir="/tmp"))  # short: Ray's socket paths
    try:
        env = loopback_env(new_token(temp))
        root = Path(__file__).resolve().parent.parent
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
        code = (
            "import json, sys; from pathlib import Path; "
            "from benchmarks.bench_profiling import _measure; "
            "print('RESULT', json.dumps(_measure(Path(sys.argv[1]))))"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, str(temp)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        for line in done.stdout.splitlines():
            if line.startswith("RESULT "):
                result: dict[str, dict[str, float]] = json.loads(line.removeprefix("RESULT "))
                return result
        raise RuntimeError(f"benchmark child failed ({done.returncode}):\n{done.stderr[-3000:]}")
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def main() -> None:
    results = _run_child()
    print(
        f"no-op Ray calls with the worker setup hook: calls/s (median of {ROUNDS} interleaved "
        f"rounds of {CALLS}, 2 CPUs) and the worker's CPU time per call"
    )
    print(
        f"{'case':<38} {'off/s':>7} {'on/s':>7} {'on/off':>7} {'range':>10} "
        f"{'CPU/call off':>13} {'on':>8}"
    )
    for kind in ("tasks", "actor calls"):
        r = results[kind]
        for variant, label in (("cprofile", "cProfile"), ("rss", "RSS sampling every 1 s")):
            spread = f"{r[variant + ':low']:.2f}-{r[variant + ':high']:.2f}"
            print(
                f"{kind + ': ' + label:<38} {r['baseline']:>7.0f} {r[variant]:>7.0f} "
                f"{r[variant + ':ratio']:>7.2f} {spread:>10} "
                f"{r['baseline:cpu_us']:>10.0f} us {r[variant + ':cpu_us']:>5.0f} us"
            )
    files = int(results["check"]["cprofile_files"])
    print(f"(cProfile files written by the profiled workers: {files})")


if __name__ == "__main__":
    main()
