"""The runnable examples under docs/examples/, run against the session's real Ray.

Examples whose metrics are checked run in this process (``main(address)`` on the
session's driver, so their workers and actors outlive the call while Prometheus
scrapes them); their modules are registered to pickle by value, as a script's
functions are. The others run as scripts, exactly as the docs tell a reader to,
with the cluster's environment.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import ray
import ray.cloudpickle

import rayobs.otel
from tests import requires
from tests.harness import REPO, Prometheus, RayCluster, free_port, run_private

EXAMPLES = REPO / "docs" / "examples"
TESTED = {
    "auto_job",
    "bank_actor",
    "data_pipeline",
    "failure_counter",
    "hamilton_features",  # the dataflow hamilton_ray runs
    "hamilton_ray",
    "parallel_retrieve",
    "pool_capture",
    "pycharm_actor",
    "quickstart",
    "serve_reviews",
    "task_dag_tracing",
}


def test_every_example_is_tested_here() -> None:
    assert {p.stem for p in EXAMPLES.glob("*.py")} == TESTED


def _load(name: str) -> ModuleType:
    """Import docs/examples/<name>.py; Ray then ships its functions by value, like a script's."""
    spec = importlib.util.spec_from_file_location(f"docs_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    ray.cloudpickle.register_pickle_by_value(module)
    return module


def _printed(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """What the example printed (lines Ray forwards from workers start with '(')."""
    return [line for line in capsys.readouterr().out.splitlines() if not line.startswith("(")]


def _run_script(
    cluster: RayCluster,
    name: str,
    *args: str,
    timeout: float = 60.0,
    launcher: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    script = [sys.executable, str(EXAMPLES / f"{name}.py"), "--address", cluster.address, *args]
    result = subprocess.run(
        [*launcher, *script],
        env=cluster.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"{name} exited {result.returncode}:\n{result.stderr[-3000:]}"
    return result


def test_quickstart_calls_reach_prometheus(
    ray_driver: RayCluster, prometheus: Prometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    example = _load("quickstart")
    assert example.main(ray_driver.address, rounds=3) == {"ok": 9, "error": 3}
    assert _printed(capsys) == ["9 calls succeeded, 3 failed"]
    prometheus.wait_for(
        'sum by (outcome) (max_over_time(ray_rayobs_calls_total{app="quickstart"}[10m]))',
        {"ok": 9.0, "error": 3.0},
        by="outcome",
    )
    prometheus.wait_for(
        'sum by (exception) (max_over_time(ray_rayobs_call_errors_total{app="quickstart"}[10m]))',
        {"ValueError": 3.0},
        by="exception",
    )


def test_bank_actor_counts_refusals_and_tracks_money(
    ray_driver: RayCluster, prometheus: Prometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    example = _load("bank_actor")
    banks = example.main(ray_driver.address)
    assert _printed(capsys) == [
        "north: alice withdrew 30, 70 left",
        "north: refused: cannot withdraw 5 from carol: no such account",
        "north: refused: cannot withdraw 500 from alice: only 70 available",
        "south: bob withdrew 20, 30 left",
        "south: refused: cannot withdraw 40 from bob: only 30 available",
    ]
    prometheus.wait_for(
        "sum by (actor_name) (max_over_time(ray_example_bank_failed_withdrawals_total[10m]))",
        {"north": 2.0, "south": 1.0},
        by="actor_name",
    )
    prometheus.wait_for(
        "sum by (actor_name) (ray_example_bank_money)",
        {"north": 70.0, "south": 30.0},
        by="actor_name",
    )
    for bank in banks.values():
        ray.kill(bank)


def test_failure_counter_in_a_remote_function(
    ray_driver: RayCluster, prometheus: Prometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    example = _load("failure_counter")
    results = example.main(ray_driver.address)
    assert results == [None, 10.0, 5.0, None, 2.0, None, 1.0, 2.5]
    printed = _printed(capsys)
    assert printed[0] == "10 / 0 = None"
    assert printed[-1] == "3 divisions failed: ray_example_divide_failures_total goes up by 3"
    prometheus.wait_for(
        "sum by (error) (max_over_time(ray_example_divide_failures_total[10m]))",
        {"ZeroDivisionError": 3.0},
        by="error",
    )


def test_parallel_retrieve_with_an_instrumented_tracker(
    ray_driver: RayCluster, prometheus: Prometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    example = _load("parallel_retrieve")
    results, tracker = example.main(ray_driver.address)
    assert results == list(enumerate(example.DATABASE))
    printed = _printed(capsys)
    assert printed[-1] == "tracker counted 8 reads"
    arrivals = [re.fullmatch(r" *[\d.]+ s  \((\d), '(\w+)'\)", line) for line in printed[:-1]]
    assert all(arrivals), printed
    assert sorted(int(m[1]) for m in arrivals if m) == list(range(8))
    calls = 'sum by (name) (max_over_time(ray_rayobs_calls_total{app="retrieve-example"}[10m]))'
    prometheus.wait_for(
        calls,
        {
            "retrieve_task": 8.0,
            "DataTracker.__init__": 1.0,
            "DataTracker.increment": 8.0,
            "DataTracker.counts": 2.0,
        },
        by="name",
    )
    prometheus.wait_for(
        "sum(max_over_time(ray_rayobs_call_duration_seconds_count"
        '{app="retrieve-example", name="retrieve_task"}[10m]))',
        8.0,
    )
    ray.kill(tracker)


def test_pool_capture_is_named_by_the_inspector(ray_cluster: RayCluster) -> None:
    out = _run_script(ray_cluster, "pool_capture").stdout.splitlines()
    assert out[0] == "locally: sum_of_squares(4) = 14"
    assert out[1] == "on Ray: NotImplementedError at .remote()"
    assert out[2:6] == [
        "sum_of_squares: serializable=False",
        "  path:  sum_of_squares.__globals__['pool']",
        "  type:  multiprocessing.pool.Pool",
        "  error: NotImplementedError: pool objects cannot be passed between processes or pickled",
    ]
    assert out[6].startswith("  hint:  A process or thread pool owns running workers")
    assert out[7:] == [
        "sum_of_squares_on_ray: serializable=True",
        "on Ray, fixed: sum_of_squares_on_ray(4) = 14",
    ]


def test_pycharm_actor_starts_at_once_without_an_ide(ray_cluster: RayCluster) -> None:
    port = free_port()  # nothing listens there
    started = time.monotonic()
    out = _run_script(ray_cluster, "pycharm_actor", "--pycharm", f"127.0.0.1:{port}").stdout
    elapsed = time.monotonic() - started
    lines = out.splitlines()
    assert re.fullmatch(r"dothing\(1\) = 2, [\d.]+ s after creating the actor", lines[0]), lines
    attempt = re.fullmatch(
        r"debugger attached: False \(debugger not reachable: ConnectionRefusedError: .*; "
        r"([\d.]+) s\)",
        lines[1],
    )
    assert attempt is not None, lines
    assert float(attempt[1]) < 1.0  # the probe's timeout; a refused port answers at once
    assert elapsed < 60


def test_task_dag_is_one_trace(ray_cluster: RayCluster, tmp_path: Path) -> None:
    out = _run_script(ray_cluster, "task_dag_tracing", "--spans", str(tmp_path)).stdout
    lines = out.splitlines()
    assert lines[0] == "prices: {'book': 6.0, 'lamp': 15.0, 'pen': 1.25}"
    trace_id = re.fullmatch(r"trace ([0-9a-f]{32}):", lines[1])
    assert trace_id is not None, lines
    # the tree the example printed: the driver's span, its three tasks under it, convert last
    tree = [re.fullmatch(r"( +)([\w-]+)  [\d.]+-[\d.]+ s", line) for line in lines[2:]]
    shape = [(len(m[1]), m[2]) if m else line for m, line in zip(tree, lines[2:], strict=True)]
    assert len(shape) == 4 and shape[0] == (2, "price-orders") and shape[3] == (4, "convert")
    assert sorted(shape[1:3]) == [(4, "load_exchange_rate"), (4, "load_orders")]
    # and what the files hold, read independently
    spans = _wait_for_spans(tmp_path, 4)
    assert {s["trace_id"] for s in spans} == {trace_id[1]}
    by_name = {s["name"]: s for s in spans}
    assert sorted(by_name) == ["convert", "load_exchange_rate", "load_orders", "price-orders"]
    root = by_name.pop("price-orders")
    assert root["parent_span_id"] is None
    assert {s["parent_span_id"] for s in by_name.values()} == {root["span_id"]}
    assert {s["attributes"]["rayobs.kind"] for s in by_name.values()} == {"task"}
    # the dependency: convert starts after both of its inputs have finished
    inputs_done = max(
        by_name[n]["end_time_unix_nano"] for n in ("load_orders", "load_exchange_rate")
    )
    assert by_name["convert"]["start_time_unix_nano"] >= inputs_done


@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")
def test_data_pipeline_counts_every_batch_and_row(
    ray_driver: RayCluster, prometheus: Prometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    example = _load("data_pipeline")
    assert example.main(ray_driver.address) == [1000, 1200, 1999, 4000, 9900, 25000]
    assert _printed(capsys)[-1] == (
        "12 prices, 6 of 10.00 or more: [1000, 1200, 1999, 4000, 9900, 25000]"
    )
    prometheus.wait_for(
        'sum by (name) (max_over_time(ray_rayobs_calls_total{app="data-example"}[10m]))',
        {"to_cents": 4.0, "Classifier.__init__": 1.0, "Classifier.__call__": 12.0},
        by="name",
    )


def test_auto_job_is_measured_under_rayobs_run(
    ray_cluster: RayCluster, prometheus: Prometheus
) -> None:
    launcher = (sys.executable, "-m", "rayobs", "run", "--")
    out = _run_script(ray_cluster, "auto_job", launcher=launcher, timeout=120).stdout
    assert out.splitlines()[-3:] == [
        "thumbnails [16, 32, None, 64], gallery of 3, brightened sum 108",
        "ray.put failed: TypeError; rayobs: value is not serializable: 1 object cannot be pickled.",
        "[1] value['settings']['guard']",
    ]
    prometheus.wait_for(
        'label_join(sum by (name, outcome) (max_over_time(ray_rayobs_calls_total{name=~"'
        'thumbnail|brighten|Gallery.*"}[10m])), "name_outcome", "/", "name", "outcome")',
        {
            "thumbnail/ok": 3.0,
            "thumbnail/error": 1.0,
            "Gallery.__init__/ok": 1.0,
            "Gallery.add/ok": 3.0,
            "brighten/ok": 4.0,
        },
        by="name_outcome",
    )


def _wait_for_spans(directory: Path, expected: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    spans: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        spans = rayobs.otel.read_spans(directory)
        if len(spans) >= expected:
            return spans
        time.sleep(0.25)
    raise AssertionError(f"expected {expected} spans, found {[s['name'] for s in spans]}")


def test_hamilton_dataflow_on_ray_is_counted_in_the_workers_and_traced(
    ray_cluster: RayCluster, prometheus: Prometheus, tmp_path: Path
) -> None:
    requires.module("hamilton", "hamilton")
    out = _run_script(ray_cluster, "hamilton_ray", "--spans", str(tmp_path), timeout=120).stdout
    lines = out.splitlines()
    assert lines[0].split() == [
        "spend",
        "signups",
        "avg_3wk_spend",
        "spend_per_signup",
        "spend_zero_mean_unit_variance",
    ]
    assert len(lines[1:7]) == 6 and lines[3].split()[1:] == ["20.0", "50", "13.33", "0.40", "-0.48"]
    assert lines[7] == (
        "second run failed: ZeroDivisionError: spend never changed: no variance to scale by"
    )
    # one trace: the driver's execute span, the 8 nodes under it, each from a Ray worker
    spans = [s for s in rayobs.otel.read_spans(tmp_path) if s["name"] != "execute"]
    execute = min(
        (s for s in rayobs.otel.read_spans(tmp_path) if s["name"] == "execute"),
        key=lambda s: s["start_time_unix_nano"],
    )
    nodes = [s for s in spans if s["trace_id"] == execute["trace_id"]]
    assert sorted(s["name"] for s in nodes) == sorted(
        [line.removeprefix("span ") for line in lines[8:] if line != "span execute"]
    )
    assert len(nodes) == 8
    assert {s["parent_span_id"] for s in nodes} == {execute["span_id"]}
    assert {s["attributes"]["hamilton.dataflow"] for s in nodes} == {"features"}
    assert all("ray.task_id" in s["attributes"] for s in nodes)
    expected = {f"{node}|ok": 2.0 for node in (s["name"] for s in nodes)}
    expected |= {
        "spend_zero_mean_unit_variance|ok": 1.0,
        "spend_zero_mean_unit_variance|error": 1.0,
    }
    prometheus.wait_for(
        'label_join(sum by (name, outcome) (max_over_time(ray_rayobs_calls_total{kind="node", '
        'app="marketing", component="features"}[10m])), "key", "|", "name", "outcome")',
        expected,
        by="key",
    )


@pytest.mark.ray
@pytest.mark.prometheus
def test_serve_reviews_in_a_private_network() -> None:
    requires.module("fastapi", "serve")
    requires.program("prometheus", requires.DEBIAN_PROMETHEUS)
    run = run_private(REPO / "tests" / "integration" / "_serve_driver.py", "example")
    assert run["printed"] == [
        "a great film, loved it: 200 positive",
        "boring and bad: 200 negative",
        "(empty): 500 Internal Server Error",
    ]
    assert run["scraped"]["calls"] == {
        "reviews|Reviews|actor|Reviews.__init__|ok": 1.0,
        "reviews|Reviews|actor|Reviews.classify|ok": 2.0,
        "reviews|Reviews|actor|Reviews.classify|error": 1.0,
        "reviews|Sentiment|actor|Sentiment.__call__|ok": 2.0,
        "reviews|Sentiment|actor|Sentiment.__call__|error": 1.0,
    }
    assert run["scraped"]["errors"] == {
        "reviews|Reviews|Reviews.classify|ray.exceptions.RayTaskError(ValueError)": 1.0,
        "reviews|Sentiment|Sentiment.__call__|ValueError": 1.0,
    }
    by_id = {s["span_id"]: s for s in run["spans"]}
    models = [s for s in run["spans"] if s["name"] == "Sentiment.__call__"]
    assert len(models) == 3
    assert [by_id[s["parent_span_id"]]["name"] for s in models] == ["Reviews.classify"] * 3
