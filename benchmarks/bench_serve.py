"""Ray Serve requests/s through a ``DeploymentHandle`` to a trivial deployment, with and
without ``@rayobs.instrument`` (target >= 97%).

Serve's replicas bind all interfaces (Ray 2.60), so the benchmark re-runs itself in
a private network namespace with only loopback (root; ``unshare -n``), on a local
Ray of its own. Each round sends a burst of concurrent calls to each of three
applications in rotating order: the bare deployment, an identical second bare
one, and the instrumented one. The ratio is the median of per-round ratios to the
first bare one; the second bare one's ratio is the run's noise.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

try:
    from benchmarks._timing import rotating_rounds
except ImportError:  # run as a script
    from _timing import rotating_rounds  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parent.parent
ROUNDS = 12
BURST = 400
_INSIDE = "RAYOBS_BENCH_PRIVATE_NETWORK"


class Echo:
    def __call__(self, x: int) -> int:
        return x


def _rate(handle: Any) -> float:
    start = time.perf_counter()
    responses = [handle.remote(i) for i in range(BURST)]
    assert [r.result() for r in responses] == list(range(BURST))
    return BURST / (time.perf_counter() - start)


def _measure(run_dir: Path) -> None:
    from rayobs.demo._local_ray import prepare_environment

    prepare_environment(run_dir)
    import ray
    from ray import serve

    import rayobs
    from rayobs.demo._ports import free_port

    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        _temp_dir=str(run_dir / "ray"),
        logging_level="ERROR",
        log_to_driver=False,
    )
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": free_port()})
        options = {"ray_actor_options": {"num_cpus": 0}, "max_ongoing_requests": 100}
        bare = serve.deployment(Echo, name="Echo", **options)
        instrumented = serve.deployment(
            rayobs.instrument(type("Echo", (Echo,), {})), name="Echo", **options
        )
        handles = {
            "bare": serve.run(bare.bind(), name="bare", route_prefix="/bare"),
            "bare again": serve.run(bare.bind(), name="bare_again", route_prefix="/again"),
            "rayobs": serve.run(instrumented.bind(), name="rayobs", route_prefix="/rayobs"),
        }
        for handle in handles.values():  # warm up: routers, replicas, the flusher
            _rate(handle)
            _rate(handle)
        rates, ratios = rotating_rounds(
            {name: functools.partial(_rate, handle) for name, handle in handles.items()}, ROUNDS
        )
    finally:
        try:
            serve.shutdown()
        finally:
            ray.shutdown()
    ratio = ratios["rayobs"]
    verdict = "ok" if ratio >= 0.97 else "MISS"
    print(f"Serve through a DeploymentHandle, {ROUNDS} rounds of {BURST} concurrent calls")
    print(
        f"  bare {rates['bare']:.0f} req/s, instrumented {rates['rayobs']:.0f} req/s; median "
        f"ratio {ratio:.1%} (target >= 97%) {verdict}; bare against bare "
        f"{ratios['bare again']:.1%} (the run's noise)"
    )


def main() -> None:
    if os.environ.get(_INSIDE) == "1":
        _measure(Path(os.environ["RAYOBS_RUN_DIR"]))
        return
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        print("skipped: Serve needs a private network namespace here (root and unshare)")
        return
    from rayobs.demo._local_ray import kill_marked, private_network

    run_dir = Path(tempfile.mkdtemp(prefix="rayobs-bench-serve-", dir="/tmp"))
    env = dict(os.environ, RAYOBS_RUN_DIR=str(run_dir), **{_INSIDE: "1"})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    for key in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        env.pop(key, None)  # a fresh token in the run's own dir
    try:
        command = private_network([sys.executable, "-m", "benchmarks.bench_serve"])
        subprocess.run(command, env=env, cwd=REPO, check=True, timeout=600)
    finally:
        kill_marked(str(run_dir))
        shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
