"""rayobs top on the real cluster: its numbers against the workload and against PromQL,
and the live view driven in a real terminal (tmux)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import ray

import rayobs
from tests import requires
from tests.harness import Prometheus, RayCluster, http_get, wait_until

RAYOBS = str(Path(sys.executable).parent / "rayobs")
METHOD = "TopShop.buy"
CALLS = f'ray_rayobs_calls_total{{name="{METHOD}"}}'
ERRORS = f'ray_rayobs_call_errors_total{{name="{METHOD}"}}'
BUCKETS = f'ray_rayobs_call_duration_seconds_bucket{{name="{METHOD}"}}'
FAST, SLOW = 0.012, 0.06  # inside (0.01, 0.025] and (0.05, 0.1]: room for a loaded machine


@rayobs.instrument
@ray.remote
class TopShop:
    def buy(self, seconds: float, error: str = "") -> str:
        time.sleep(seconds)
        if error == "KeyError":
            raise KeyError("sku")
        if error == "ValueError":
            raise ValueError("quantity")
        return "ok"


@rayobs.instrument(name="top_probe_task")
@ray.remote
def probe(x: int) -> int:
    return x


def _run(shop: Any, *calls: tuple[float, str]) -> None:
    for seconds, error in calls:
        with contextlib.suppress(KeyError, ValueError):
            ray.get(shop.buy.remote(seconds, error), timeout=60)


def _sum_at(prometheus: Prometheus, promql: str, at: float, by: str | None = None) -> Any:
    data = prometheus.api("query", query=promql, time=f"{at:.3f}")
    return {(r["metric"].get(by, "") if by else ""): float(r["value"][1]) for r in data["result"]}


def test_once_json_agrees_with_the_workload_and_promql(
    ray_driver: RayCluster, prometheus: Prometheus
) -> None:
    shop = TopShop.remote()  # type: ignore[attr-defined]
    # every series (outcomes, exception types, buckets) exists before the window opens
    _run(shop, (0.0, ""), (0.0, "KeyError"), (0.0, "ValueError"))
    prometheus.wait_for(f"sum({CALLS})", 3.0)
    time.sleep(1.5)  # Prometheus has a scrape of the warm-up alone
    top = subprocess.Popen(
        [RAYOBS, "top", "--endpoint", ray_driver.metrics_url, "--once", "--interval", "8",
         "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ray_driver.env,
    )  # fmt: skip
    time.sleep(2.0)  # its first sample is taken
    opened = time.time()
    workload = [(FAST, "")] * 12 + [(SLOW, "")] * 6 + [(0.0, "KeyError")] * 3
    _run(shop, *workload, (0.0, "ValueError"), (0.0, "ValueError"))
    out, err = top.communicate(timeout=60)
    closed = time.time()
    assert top.returncode == 0, err
    report = json.loads(out)
    row = next(r for r in report["functions"] if r["name"] == METHOD)
    assert (row["kind"], row["calls"], row["errors"]) == ("actor", 23.0, 5.0)
    assert row["error_ratio"] == pytest.approx(5 / 23)
    assert row["exceptions"] == [
        {"type": "KeyError", "count": 3.0},
        {"type": "ValueError", "count": 2.0},
    ]
    assert row["calls_per_s"] == pytest.approx(23 / report["window_s"])
    # ranks 11.5 and 22.77 of 23: the fast calls' bucket and the slow calls' bucket
    assert 0.01 < row["p50_s"] <= 0.025
    assert 0.05 < row["p99_s"] <= 0.1

    # Prometheus, scraping the same node, over the same window
    time.sleep(2.5)
    after = closed + 2.0
    span = f"{math.ceil(after - opened + 0.5)}s"
    calls = _sum_at(prometheus, f"sum({CALLS}) - sum({CALLS} offset {span})", after)
    assert calls == {"": 23.0}
    by_type = f"sum by (exception) ({ERRORS}) - sum by (exception) ({ERRORS} offset {span})"
    assert _sum_at(prometheus, by_type, after, "exception") == {"KeyError": 3.0, "ValueError": 2.0}
    for q, key in ((0.5, "p50_s"), (0.95, "p95_s"), (0.99, "p99_s")):
        deltas = f"sum by (le) ({BUCKETS}) - sum by (le) ({BUCKETS} offset {span})"
        promql = _sum_at(prometheus, f"histogram_quantile({q}, {deltas})", after)
        assert promql[""] == pytest.approx(row[key], rel=1e-9), key
    # rate() over top's own window, ending at its second sample: extrapolation aside, the same
    window = f"{round(report['window_s'])}s"
    rate = _sum_at(prometheus, f"sum(rate({CALLS}[{window}]))", closed)
    assert rate[""] == pytest.approx(row["calls_per_s"], rel=0.25)


@pytest.mark.parametrize("form", ["gcs", "dashboard"])
def test_address_discovers_the_node_endpoint(ray_driver: RayCluster, form: str) -> None:
    ray.get(probe.remote(1), timeout=60)
    # A node counts once its endpoint shows Ray's resource gauges; the agent can
    # drop them for a moment between two raylet reports on a loaded machine.
    wait_until(lambda: "\nray_resources{" in http_get(ray_driver.metrics_url), 30, "ray_resources")
    address = ray_driver.address if form == "gcs" else ray_driver.dashboard_url
    # --interval 3: each read may take 1.5 s (half the interval, at most 1.5 s). Late in
    # the suite the shared node's agent serves thousands of series and has needed more
    # than the 0.5 s that --interval 1 allows. Discovery is what is tested here.
    out = subprocess.run(
        [RAYOBS, "top", "--address", address, "--once", "--interval", "3",
         "--format", "json"],
        capture_output=True, text=True, timeout=60, env=ray_driver.env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert [e["source"] for e in report["endpoints"]] == [ray_driver.metrics_url]
    assert report["cluster"]["nodes"] == 1
    assert report["cluster"]["object_store_capacity_bytes"] > 0


def test_prometheus_source(ray_driver: RayCluster, prometheus: Prometheus) -> None:
    shop = TopShop.remote()  # type: ignore[attr-defined]
    _run(shop, (0.0, ""), (0.0, "KeyError"))
    prometheus.wait_for(f"sum({CALLS}) > bool 0", 1.0)
    out = subprocess.run(
        [RAYOBS, "top", "--prometheus", prometheus.url, "--once", "--format", "json"],
        capture_output=True, text=True, timeout=60, env=ray_driver.env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["window_s"] == 30.0
    assert any(r["name"] == METHOD for r in report["functions"])
    assert report["cluster"]["nodes"] == 1


def _tmux(socket: str, *args: str) -> str:
    done = subprocess.run(
        ["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=30, check=True
    )
    return done.stdout


def test_live_view_in_tmux_sorts_filters_and_quits(ray_driver: RayCluster) -> None:
    requires.program("tmux", "`make prometheus` installs Debian's tmux when run as root")
    ray.get(probe.remote(2), timeout=60)
    shop = TopShop.remote()  # type: ignore[attr-defined]
    _run(shop, (0.0, ""))
    socket = f"rayobs-top-{os.getpid()}"
    env = {**ray_driver.env, "TERM": "xterm-256color"}
    subprocess.run(
        ["tmux", "-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", "top",
         "-x", "200", "-y", "40", "bash --norc --noprofile"],
        check=True, env=env, timeout=30,
    )  # fmt: skip

    def screen() -> str:
        return _tmux(socket, "capture-pane", "-p", "-t", "top")

    try:
        # the session's other tests leave more functions than the pane has rows: start
        # on this test's two, then filter again interactively
        command = f"{RAYOBS} top --endpoint {ray_driver.metrics_url} --interval 1 --filter top"
        _tmux(socket, "send-keys", "-t", "top", command, "Enter")
        wait_until(lambda: "top_probe_task" in screen() and METHOD in screen(), 30, "first frame")
        assert "sort calls" in screen() and "CALLS/S▼" in screen()
        _tmux(socket, "send-keys", "-t", "top", "p")
        wait_until(lambda: "sort p99" in screen() and "P99▼" in screen(), 10, "sort by p99")
        # "/" edits the filter given on the command line: erase it, type another
        _tmux(socket, "send-keys", "-t", "top", "/", "BSpace", "BSpace", "BSpace", "buy", "Enter")
        wait_until(lambda: "filter 'buy'" in screen(), 10, "the filter")
        shown = screen()
        assert METHOD in shown and "top_probe_task" not in shown
        _tmux(socket, "send-keys", "-t", "top", "q")
        wait_until(lambda: "CALLS/S" not in screen(), 10, "the view to quit")
        modes = "stty -a | tr ' ;' '\\n\\n' | grep -E '^-?(icanon|echo)$' | tr '\\n' ' '"
        _tmux(socket, "send-keys", "-t", "top", f"clear; {modes}; echo END-$((1+1))", "Enter")
        wait_until(lambda: "END-2" in screen(), 10, "the shell")
        assert "icanon echo END-2" in screen()  # cooked mode again, not -icanon -echo
    finally:
        if shutil.which("tmux"):
            subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=30)
