"""Every PromQL expression of every dashboard panel and variable, proven on real data.

The demo workload (instrumented bank actors and divisions, with their user
handles) and a module of user handles of every type run on the session's real
Ray cluster; the real Prometheus scrapes it. Then each expression of the
shipped dashboards and of the app dashboard built for that module is evaluated
through Prometheus' HTTP API with the template variables substituted as
Grafana would (All → ``.*``, ``$__rate_interval`` → 1m, ``$__range`` → 10m).

No expression may fail to parse or evaluate. Every panel must return data
with a finite value, except the panels listed in ``QUIET``, which stay empty on
a healthy cluster: for those, the expression has to evaluate without error.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rayobs.cli import cli
from tests import requires
from tests.harness import Prometheus, PromQLError, RayCluster

requires.module("grafana_foundation_sdk", "grafana")

from rayobs.dashboards import _app, _export, _promql, _read  # noqa: E402
from rayobs.demo.preview import drive  # noqa: E402

APP_MODULE = "tests.integration._dashboard_app"
BUILTINS = {"__rate_interval": "1m", "__range": "10m", "__interval": "15s"}

# Panels that legitimately stay empty here: nothing is OOM-killed or crashes on
# purpose (the session cluster is shared), and no worker runs the RSS hook.
QUIET = {
    ("rayobs-memory-incidents", "OOM kills by name"),
    ("rayobs-memory-incidents", "Unexpected worker failures by name"),
    ("rayobs-memory-incidents", "OOM kills by node"),
    ("rayobs-memory-incidents", "Unexpected worker failures by node"),
    ("rayobs-memory-incidents", "Worker RSS (rayobs hook)"),
}
# Variables with legitimately no values: KubeRay's label is absent on a local Ray.
QUIET_VARIABLES = {"cluster"}


def _views() -> list[_read.DashboardView]:
    dashboards = [
        *_export.shipped(),
        _app.app_dashboard(APP_MODULE, _app.import_handles(APP_MODULE)),
    ]
    return [_read.read(r.data) for r in _export.render_all(dashboards)]


def _values(view: _read.DashboardView) -> dict[str, str]:
    values = {v.name: v.all_value or ".*" for v in view.variables if v.type == "query"}
    return {**values, **BUILTINS}


def _finite(results: list[dict[str, Any]]) -> bool:
    return any(not math.isnan(float(r["value"][1])) for r in results)


@pytest.fixture(scope="module")
def workload(ray_driver: RayCluster) -> Any:
    """The demo workload, 8 s of its traffic, and every kind of user handle, on the real cluster."""
    import ray

    from rayobs.demo import workload as demo
    from tests.integration import _dashboard_app as app

    expected, actors = demo.run()
    recorder: Any = app.Recorder.remote()  # type: ignore[attr-defined]
    ray.get(recorder.misuse.remote(), timeout=60)
    refs = [recorder.round.remote(i) for i in range(30)]
    assert ray.get([app.ingest.remote(i) for i in range(6)], timeout=60) == [  # type: ignore[attr-defined]
        2 * i for i in range(6)
    ]
    traffic = drive(8.0)
    ray.get(refs, timeout=60)
    yield expected, actors, recorder, traffic  # alive while checked: their gauges stay exported


def test_every_expression_evaluates_and_shows_data(workload: Any, prometheus: Prometheus) -> None:
    views = _views()
    pending: dict[tuple[str, str], list[str]] = {}
    for view in views:
        values = _values(view)
        for panel, target in view.queries():
            pending.setdefault((view.uid, panel.title), []).append(
                _promql.substitute(target.expr, values)
            )
    assert len(pending) == sum(1 for v in views for p in v.panels if p.targets)

    shown: set[tuple[str, str]] = set()
    deadline = time.monotonic() + 75  # Ray's dashboard agent first reports node memory late
    while True:
        for key, exprs in pending.items():
            if key in shown:
                continue
            results = [prometheus.api("query", query=expr)["result"] for expr in exprs]
            if any(_finite(r) for r in results):
                shown.add(key)
        missing = set(pending) - shown - QUIET
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    assert not missing, f"panels without data: {sorted(missing)}"
    # The quiet panels parsed and evaluated (the loop above would have raised).
    # Those that did show data must not stay listed as quiet for nothing:
    assert set(pending) >= QUIET
    print("\nlegitimately empty here:", sorted(QUIET - shown))
    print("proven with data:", len(shown), "panels")


def test_every_variable_query_finds_values(workload: Any, prometheus: Prometheus) -> None:
    for view in _views():
        values = _values(view)
        for variable in view.variables:
            if variable.type != "query":
                continue
            selector, label = _promql.parse_label_values(_promql.substitute(variable.query, values))
            series = prometheus.api("series", **{"match[]": selector})
            assert series, (view.uid, variable.name, selector)  # the selector parses and matches
            found = {s[label] for s in series if label in s}
            if variable.name in QUIET_VARIABLES:
                continue
            assert found, (view.uid, variable.name, selector)


def test_a_broken_expression_is_caught(prometheus: Prometheus) -> None:
    """The check above can fail: Prometheus refuses what Grafana would refuse."""
    with pytest.raises(PromQLError, match="parse error"):
        prometheus.api("query", query='sum by (name) (rate(ray_rayobs_calls_total{name=~"$name"}))')


def test_preview_renders_every_panel_with_data(
    workload: Any, prometheus: Prometheus, tmp_path: Path
) -> None:
    out = tmp_path / "tasks.png"
    result = CliRunner().invoke(
        cli,
        [
            "dashboards",
            "preview",
            "tasks-actors",
            "--prometheus",
            prometheus.url,
            "-o",
            str(out),
            "--since",
            "3m",
            "--scrape-interval",
            "1s",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "0 without data" in result.output, result.output
    assert out.read_bytes().startswith(b"\x89PNG") and out.stat().st_size > 50_000


# ---- the error ratio leaves intended exits out, on real data ----


def entry_point(code: int | None) -> str:
    """A command-line entry point: argparse and click end with SystemExit."""
    if code is None:
        return "done"
    sys.exit(code)


def _ray_shell() -> Any:
    import ray

    @ray.remote
    class Shell:
        """Runs entry points and carries on after them, as a caller of a CLI does."""

        def __init__(self) -> None:
            import rayobs

            self.entry_points = {
                name: rayobs.instrument(entry_point, name=name)
                for name in ("ratio_exits_only", "ratio_with_errors")
            }

        def run(self, name: str, codes: list[int | None]) -> list[Any]:
            out: list[Any] = []
            for code in codes:
                try:
                    out.append(self.entry_points[name](code))
                except SystemExit as exc:
                    out.append(exc.code)
            return out

    return Shell


def _error_ratio_exprs() -> list[str]:
    """The tasks dashboard's error-ratio expressions (panel and table), for the two names."""
    (view,) = [v for v in _views() if v.uid == "rayobs-tasks-actors"]
    values = {**_values(view), "name": "ratio_.*"}
    exprs = [
        _promql.substitute(target.expr, values)
        for panel, target in view.queries()
        if panel.title == "Error ratio" or target.legend == "error ratio"
    ]
    assert len(exprs) == 2, exprs
    return exprs


def test_error_ratio_leaves_intended_exits_out(
    ray_driver: RayCluster, prometheus: Prometheus
) -> None:
    """Only ok calls and intended exits: ratio 0. One error in four calls: above 0."""
    import ray

    shell = _ray_shell().remote()
    try:
        # calls keep coming for several scrapes, so the counters' rates are not 0
        for _ in range(10):
            clean = shell.run.remote("ratio_exits_only", [None, 0, None, None])
            failing = shell.run.remote("ratio_with_errors", [None, 0, 3, None])
            assert ray.get([clean, failing], timeout=60) == [
                ["done", 0, "done", "done"],
                ["done", 0, 3, "done"],
            ]
            time.sleep(0.8)
        prometheus.wait_for(
            'sum by (outcome) (ray_rayobs_calls_total{name="ratio_exits_only"})',
            {"ok": 30.0, "exit": 10.0},
            by="outcome",
        )
        prometheus.wait_for(
            'sum by (outcome) (ray_rayobs_calls_total{name="ratio_with_errors"})',
            {"ok": 20.0, "exit": 10.0, "error": 10.0},
            by="outcome",
        )
        for expr in _error_ratio_exprs():
            ratios = prometheus.values(expr, "name")
            assert ratios["ratio_exits_only"] == 0.0, (expr, ratios)
            # 1 in 4 failed: every finished call counts, exits included (1 in 3 without them)
            assert abs(ratios["ratio_with_errors"] - 0.25) < 0.04, (expr, ratios)
            print(f"\nerror ratios {ratios} from {expr[:40]}...")
    finally:
        ray.kill(shell)
