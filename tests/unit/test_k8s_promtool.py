"""The alert rules load in promtool, and each alert fires on bad series and only on them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from rayobs.cli import COMMANDS
from rayobs.k8s import DEFAULTS, alerts
from rayobs.k8s._params import CLUSTER_LABEL
from rayobs.k8s._rules import RAY_PREFIX
from tests import requires
from tests.harness import alert_rule_groups

REPO = Path(__file__).resolve().parents[2]
RULE_FILE = REPO / "k8s" / "prometheusrule-rayobs-alerts.yaml"
TESTS = REPO / "tests" / "data" / "promtool" / "rayobs-alerts.test.yaml"


def _groups() -> list[dict[str, object]]:
    return alert_rule_groups()


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    promtool = requires.program("promtool", requires.DEBIAN_PROMETHEUS)
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_promtool_checks_the_rules(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(json.dumps({"groups": _groups()}))
    result = _promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts(DEFAULTS))} rules found" in result.stdout


def test_promtool_unit_tests_pass(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(json.dumps({"groups": _groups()}))
    shutil.copy(TESTS, tmp_path / TESTS.name)
    result = _promtool("test", "rules", TESTS.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_can_fail(tmp_path: Path) -> None:
    """A threshold moved so an alert no longer fires makes the unit tests fail."""
    groups = _groups()
    text = json.dumps({"groups": groups}).replace("> 0.9", "> 0.99")
    (tmp_path / "rules.yaml").write_text(text)
    shutil.copy(TESTS, tmp_path / TESTS.name)
    result = _promtool("test", "rules", TESTS.name, cwd=tmp_path)
    assert result.returncode != 0
    assert "RayObjectStoreAlmostFull" in result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    cases = yaml.safe_load(TESTS.read_text())["tests"]
    firing, quiet = set(), set()
    for case in cases:
        for check in case["alert_rule_test"]:
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {a.name for a in alerts(DEFAULTS)}
    assert firing == names
    assert quiet == names


def test_every_alert_points_to_a_runbook_and_a_next_step() -> None:
    for alert in alerts(DEFAULTS):
        rule = alert.rule(DEFAULTS)
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}
        assert rule["annotations"]["runbook_url"] == f"docs/runbooks.md#{alert.name.lower()}"
        assert alert.severity in {"info", "warning", "critical"}
        if alert.command is not None:
            assert alert.command in COMMANDS, alert.name
            assert re.search(rf"rayobs {alert.command}\b", alert.description), alert.name


def test_rules_use_only_known_metric_names() -> None:
    """Every ray_* name in an expression is a catalog export or a checked Ray 2.60 name."""
    from rayobs.k8s import _rules
    from rayobs.metrics import _catalog

    catalog = {
        _rules.exported(h, suffix)
        for h in (*_catalog.INTERNAL, *_catalog.CALL_METRICS.values())
        for suffix in ("", "_bucket")
    }
    ray = {v for k, v in vars(_rules).items() if k.startswith("RAY_") and k != "RAY_PREFIX"}
    for alert in alerts(DEFAULTS):
        used = set(re.findall(rf"\b{RAY_PREFIX}\w+", alert.expr)) - {CLUSTER_LABEL}
        assert used <= catalog | ray, (alert.name, used - catalog - ray)
