"""The harness itself: everything listens on loopback and Prometheus really scrapes Ray."""

from __future__ import annotations

import subprocess

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
