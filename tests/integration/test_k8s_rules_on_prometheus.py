"""The alert rules against a real Prometheus scraping the real Ray test cluster.

Every expression must parse and run there; the rule file must load into a
Prometheus and evaluate with every rule healthy. Where the session cluster can
show it cheaply, an alert's expression also fires on real Ray data: failing
instrumented calls, and a worker killed by SIGKILL.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

import rayobs
from rayobs.k8s import DEFAULTS, alerts
from rayobs.k8s._rules import (
    RAY_OBJECT_STORE_AVAILABLE,
    RAY_OBJECT_STORE_USED,
    RAY_SPILL_REQUESTS,
)
from tests.harness import Prometheus, RayCluster, alert_rule_file, wait_until

REPO = Path(__file__).resolve().parents[2]
RULE_FILE = REPO / "k8s" / "prometheusrule-rayobs-alerts.yaml"
ALERTS = {a.name: a for a in alerts(DEFAULTS)}


@pytest.mark.parametrize("name", sorted(ALERTS))
def test_expression_parses_and_runs(name: str, prometheus: Prometheus) -> None:
    prometheus.query(ALERTS[name].expr)  # PromQLError on a parse or evaluation error


def test_ray_exports_what_the_object_store_and_absence_alerts_read(
    ray_cluster: RayCluster, prometheus: Prometheus
) -> None:
    # RayMetricsAbsent fires for a cluster whose agent answers without this metric:
    # an idle Ray 2.60 node must export it, or the alert would always fire.
    for metric in (RAY_OBJECT_STORE_USED, RAY_OBJECT_STORE_AVAILABLE):
        wait_until(lambda m=metric: prometheus.query(m), 45, f"{metric} in Prometheus")
    wait_until(
        lambda: prometheus.query(f'{RAY_SPILL_REQUESTS}{{Type="Spilled"}}'),
        45,
        "spill requests",
    )
    ratio = prometheus.values(
        f"sum({RAY_OBJECT_STORE_USED}) / "
        f"(sum({RAY_OBJECT_STORE_USED}) + sum({RAY_OBJECT_STORE_AVAILABLE}))"
    )
    assert 0 <= ratio[""] < 0.9


def test_rule_file_loads_and_every_rule_evaluates_healthy(
    ray_cluster: RayCluster, tmp_path: Path
) -> None:
    server = Prometheus.start(
        [f"127.0.0.1:{ray_cluster.metrics_port}"], rule_files=[alert_rule_file(tmp_path)]
    )
    try:

        def evaluated() -> list[dict[str, Any]] | None:
            rules = [r for g in server.api("rules")["groups"] for r in g["rules"]]
            done = rules and all(r.get("lastEvaluation", "").startswith("2") for r in rules)
            return rules if done and all(r["evaluationTime"] > 0 for r in rules) else None

        rules = wait_until(evaluated, 30, "every rule evaluated once")
    finally:
        server.stop()
    assert sorted(r["name"] for r in rules) == sorted(ALERTS)
    unhealthy = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
    assert unhealthy == {}


@rayobs.instrument(name="k8s_alert_probe")
def _always_fails(x: int) -> float:
    return x / 0


def test_error_ratio_alert_fires_on_real_failing_calls(
    ray_driver: RayCluster, prometheus: Prometheus
) -> None:
    import ray

    probe = ray.remote(max_retries=0)(_always_fails)
    expr = ALERTS["RayobsHighErrorRatio"].expr

    def failing_calls_fire() -> list[dict[str, Any]]:
        # Sustained failures: the counter is born at its first export, and rate()
        # sees only what happens after that.
        with pytest.raises(ray.exceptions.RayTaskError):
            ray.get(probe.remote(1), timeout=60)
        return [r for r in prometheus.query(expr) if r["metric"].get("name") == "k8s_alert_probe"]

    fired = wait_until(failing_calls_fire, 60, "RayobsHighErrorRatio for the failing task")
    assert fired[0]["metric"]["kind"] == "task"
    assert float(fired[0]["value"][1]) == 1.0  # every call failed


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_unexpected_worker_death_alert_fires_on_a_real_sigkill(
    ray_driver: RayCluster, prometheus: Prometheus
) -> None:
    import ray

    killer = ray.remote(max_retries=0)(_kill_self).options(name="k8s_alert_sigkill")
    with pytest.raises(ray.exceptions.WorkerCrashedError):
        ray.get(killer.remote(), timeout=60)
    # Ray creates this counter at the first death, already at 1: increase() alone
    # would never see it.
    expr = ALERTS["RayWorkerDiedUnexpectedly"].expr
    started = time.monotonic()
    fired = wait_until(
        lambda: [
            r for r in prometheus.query(expr) if r["metric"].get("Name") == "k8s_alert_sigkill"
        ],
        60,
        "RayWorkerDiedUnexpectedly for the killed worker",
    )
    assert float(fired[0]["value"][1]) == 1.0, (fired, time.monotonic() - started)
