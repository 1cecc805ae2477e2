"""The harness itself: everything listens on loopback and Prometheus really scrapes Ray."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from tests.harness import Prometheus, RayCluster


def _listeners() -> list[str]:
    out = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True, check=True).stdout
    return out.splitlines()[1:]


def _is_loopback(local_address: str) -> bool:
    host = local_address.rsplit(":", 1)[0]
    return host in ("127.0.0.1", "[::1]", "[::ffff:127.0.0.1]")


def test_loopback_check_rejects_wildcards() -> None:
    assert _is_loopback("[::ffff:127.0.0.1]:6379")
    assert not _is_loopback("0.0.0.0:8265")
    assert not _is_loopback("*:8080")
    assert not _is_loopback("192.0.2.2:6379")


def test_ray_listens_on_loopback_only(ray_driver: RayCluster) -> None:
    ray_lines = [
        line
        for line in _listeners()
        if any(name in line for name in ("raylet", "gcs_server", "ray::", "ray-dashboard"))
    ]
    assert ray_lines, "no Ray listener found by ss -ltnp"
    exposed = [line for line in ray_lines if not _is_loopback(line.split()[3])]
    assert exposed == [], "Ray listens beyond loopback:\n" + "\n".join(exposed)


def test_prometheus_scrapes_the_ray_node(prometheus: Prometheus, ray_cluster: RayCluster) -> None:
    up = prometheus.wait_for('up{job="ray"}', 1.0, timeout=30)
    assert up == {"": 1.0}
    targets = prometheus.api("targets")["activeTargets"]
    assert [t["scrapeUrl"] for t in targets] == [
        f"http://127.0.0.1:{ray_cluster.metrics_port}/metrics"
    ]


def _ignores(pid: int, signum: int) -> bool:
    for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & (1 << (signum - 1)))
    raise AssertionError(f"no SigIgn line for pid {pid}")


def test_the_head_and_its_workers_take_sigint_however_the_suite_was_started(
    ray_driver: RayCluster,
) -> None:
    """ray.cancel interrupts a running task with SIGINT: an ignore inherited from a
    `make test &` would reach every worker (the harness resets it)."""
    import ray

    @ray.remote
    def worker_pid() -> int:
        return os.getpid()

    assert ray_driver.process is not None
    pids = [ray_driver.process.pid, ray.get(worker_pid.remote(), timeout=60)]
    assert [pid for pid in pids if _ignores(pid, signal.SIGINT)] == []
