"""The local Prometheus runner's configuration, and the docs' copy of it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from rayobs.demo._local_prometheus import prometheus_config, scrape_job
from tests.harness import HEAD_FIXED_PORTS, REPO

EXAMPLE = REPO / "docs" / "examples" / "prometheus-file-sd-nodes.yml"
SD_FILE = Path("/tmp/ray/session_latest/prom_metrics_service_discovery.json")


def test_the_docs_example_is_the_configuration_the_multinode_tests_run() -> None:
    """docs/prometheus.md shows this file; the tests start Prometheus with these arguments."""
    documented = yaml.safe_load(EXAMPLE.read_text())
    built = prometheus_config(
        rule_files=[Path("rayobs-alerts.rules.yml")],
        target_files=[SD_FILE],
        exclude=HEAD_FIXED_PORTS,
    )
    assert documented == built


def test_file_sd_targets_are_kept_on_loopback_only_and_exclusions_dropped() -> None:
    job = scrape_job(target_files=[SD_FILE], exclude=["127.0.0.1:44217"])
    keep, drop = job["relabel_configs"]
    assert keep["action"] == "keep" and drop["action"] == "drop"
    for address in ("127.0.0.1:8080", "127.0.0.1:44217"):
        assert re.fullmatch(keep["regex"], address)
    for address in ("10.0.0.5:8080", "127.0.0.10:8080", "0.0.0.0:8080", "[::1]:8080"):
        assert not re.fullmatch(keep["regex"], address), address
    assert re.fullmatch(drop["regex"], "127.0.0.1:44217")
    assert not re.fullmatch(drop["regex"], "127.0.0.1:4421")
    assert not re.fullmatch(drop["regex"], "127x0x0x1:44217")  # dots escaped


@pytest.mark.parametrize("target", ["10.0.0.5:8080", "localhost:8080", "127.0.0.1", "0.0.0.0:80"])
def test_a_static_target_off_loopback_is_refused(target: str) -> None:
    with pytest.raises(ValueError, match=f"^refusing to scrape a non-loopback target: {target}$"):
        scrape_job([target])
