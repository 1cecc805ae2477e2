"""docs/prometheus.md's file-SD job, run by a real Prometheus against the session's Ray head.

The head was started loopback-only (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``,
``--node-ip-address=127.0.0.1``), so Ray's target file must list 127.0.0.1 only,
and Prometheus must find the targets through it and scrape the metrics agent.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from rayobs.demo._local_prometheus import LocalPrometheus
from tests import requires
from tests.harness import REPO, RayCluster, wait_until

CONFIG = REPO / "docs" / "examples" / "prometheus-file-sd.yml"
RAY_FILE = "/tmp/ray/prom_metrics_service_discovery.json"


def _start(config: dict[str, Any]) -> LocalPrometheus:
    return LocalPrometheus.run(config, requires.program("prometheus", requires.DEBIAN_PROMETHEUS))


def test_file_sd_job_finds_the_loopback_targets_and_scrapes_them(ray_cluster: RayCluster) -> None:
    target_file = ray_cluster.temp_dir / Path(RAY_FILE).name
    metrics_agent = f"127.0.0.1:{ray_cluster.metrics_port}"
    expected = sorted([metrics_agent, "127.0.0.1:44217", "127.0.0.1:44227"])

    def listed() -> list[str]:
        return sorted(json.loads(target_file.read_text())[0]["targets"])

    # the head rewrites the file every 5 s as its node and services register
    wait_until(lambda: listed() == expected, 30, f"Ray's target file to list {expected}")

    text = CONFIG.read_text()
    assert RAY_FILE in text
    config = yaml.safe_load(text.replace(RAY_FILE, str(target_file)))
    config["global"]["scrape_interval"] = "1s"  # the page says 15s; a test need not wait
    server = _start(config)
    try:

        def discovered() -> dict[str, dict[str, str]]:
            active = server.api("targets")["activeTargets"]
            return {t["labels"]["instance"]: t["labels"] for t in active}

        targets = wait_until(lambda: len(discovered()) == 3 and discovered(), 30, "3 targets")
        assert sorted(targets) == expected
        assert {(t["job"], t["ray_cluster"]) for t in targets.values()} == {("ray", "analytics")}
        scraped = (
            f'up{{instance="{metrics_agent}"}} and on (instance) ray_object_store_available_memory'
        )
        deadline = time.monotonic() + 30
        while server.values(scraped) != {"": 1.0}:
            assert time.monotonic() < deadline, f"never true: {scraped}"
            time.sleep(0.5)
    finally:
        server.stop()
