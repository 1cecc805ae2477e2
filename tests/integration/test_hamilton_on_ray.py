"""rayobs.hamilton on the session's real Ray: counts where each node ran, results unchanged.

Each case runs the same dataflow bare and with ``NodeMetrics``, compares results
and exceptions, and then asks Prometheus (scraping the Ray node) for exact
per-node counts: recorded in the test process for the local executor, in Ray's
workers for ``h_ray.RayGraphAdapter`` and ``h_ray.RayTaskExecutor``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests import requires
from tests.harness import Prometheus, RayCluster

requires.module("hamilton", "hamilton")

from hamilton import base, driver  # noqa: E402
from hamilton.plugins import h_ray  # noqa: E402

from rayobs.hamilton import NodeMetrics  # noqa: E402
from tests.integration import _hamilton_dataflow, _hamilton_parallel  # noqa: E402

CALLS = (
    'sum by (name, outcome) (max_over_time(ray_rayobs_calls_total{{kind="node", '
    'component="{component}"}}[10m]))'
)
ERRORS = (
    'sum by (exception) (max_over_time(ray_rayobs_call_errors_total{{kind="node", '
    'component="{component}"}}[10m]))'
)


def _by_name_outcome(prometheus: Prometheus, component: str, expected: dict[str, float]) -> None:
    """Wait for exactly ``expected`` ({"node|outcome": calls}) for this dataflow."""
    prometheus.wait_for(
        f'label_join({CALLS.format(component=component)}, "key", "|", "name", "outcome")',
        expected,
        by="key",
    )


def _outcome(run: Any) -> tuple[str, Any]:
    try:
        return ("ok", run())
    except Exception as exc:  # RayTaskError(ZeroDivisionError) through Ray, the error locally
        return (type(exc).__name__, str(exc).strip().splitlines()[-1])


def _runs(dr: driver.Driver) -> list[tuple[str, Any]]:
    return [
        _outcome(lambda: dr.execute(["report"], inputs={"n": 4})),
        _outcome(lambda: dr.execute(["report", "values"], inputs={"n": 3})),
        _outcome(lambda: dr.execute(["report"], inputs={"n": 0})),  # mean divides by zero
    ]


def _builder(*adapters: Any) -> driver.Builder:
    return driver.Builder().with_modules(_hamilton_dataflow).with_adapters(*adapters)


EXPECTED = {
    "values|ok": 3.0,
    "squares|ok": 3.0,
    "total|ok": 3.0,
    "mean|ok": 2.0,
    "mean|error": 1.0,
    "report|ok": 2.0,  # not run after mean failed
}


def test_ray_graph_adapter_counts_in_the_workers(
    ray_driver: RayCluster, prometheus: Prometheus
) -> None:
    bare = _builder(h_ray.RayGraphAdapter(base.DictResult())).build()
    instrumented = _builder(
        h_ray.RayGraphAdapter(base.DictResult()), NodeMetrics("hamilton_ray_adapter")
    ).build()
    results = _runs(instrumented)
    assert results == _runs(bare)
    assert results[0] == ("ok", {"report": {"mean": 3.5, "total": 14.0}})
    assert results[2][0] == "RayTaskError(ZeroDivisionError)"
    _by_name_outcome(prometheus, "hamilton_ray_adapter", EXPECTED)
    prometheus.wait_for(
        ERRORS.format(component="hamilton_ray_adapter"), {"ZeroDivisionError": 1.0}, by="exception"
    )
    # every node ran in a Ray worker, none in this driver
    assert _driver_id() not in _recorded_by(prometheus, "hamilton_ray_adapter")


def _driver_id() -> str:
    import ray

    return str(ray.get_runtime_context().get_worker_id())


def _recorded_by(prometheus: Prometheus, component: str) -> set[str]:
    """Ray's WorkerId of the processes that recorded this dataflow's nodes."""
    query = f'ray_rayobs_calls_total{{kind="node", component="{component}"}}'
    return {r["metric"].get("WorkerId", "") for r in prometheus.query(query)}


def test_local_executor_counts_in_process(ray_driver: RayCluster, prometheus: Prometheus) -> None:
    bare = _builder(base.SimplePythonGraphAdapter(base.DictResult())).build()
    instrumented = _builder(NodeMetrics(tags={"app": "local"})).build()
    results = _runs(instrumented)
    assert [r[0] for r in results] == ["ok", "ok", "ZeroDivisionError"]
    assert results == _runs(bare)
    # the default dataflow name is the module's
    _by_name_outcome(prometheus, "tests.integration._hamilton_dataflow", EXPECTED)
    assert _recorded_by(prometheus, "tests.integration._hamilton_dataflow") == {_driver_id()}


def test_task_executor_counts_parallel_nodes_in_the_workers(
    ray_driver: RayCluster, prometheus: Prometheus
) -> None:
    def build(*adapters: Any) -> driver.Driver:
        return (
            driver.Builder()
            .enable_dynamic_execution(allow_experimental_mode=True)
            .with_modules(_hamilton_parallel)
            .with_remote_executor(h_ray.RayTaskExecutor(skip_init=True))
            .with_adapters(*adapters)
            .build()
        )

    bare, instrumented = build(), build(NodeMetrics("hamilton_tasks"))
    for dr in (bare, instrumented):
        assert dr.execute(["summed"], inputs={"count": 5}) == {"summed": 100}
    failures = []
    for dr in (bare, instrumented):
        with pytest.raises(Exception) as info:
            dr.execute(["summed"], inputs={"count": 15})
        failures.append((type(info.value).__name__, str(info.value).strip().splitlines()[-1]))
    assert failures[0] == failures[1]
    assert "13 is unlucky" in failures[1][1]
    _by_name_outcome(
        prometheus,
        "hamilton_tasks",
        # every item's task is submitted before the first one returns: 14 of 15 succeed
        {"item|ok": 2.0, "scaled|ok": 5.0 + 14.0, "scaled|error": 1.0, "summed|ok": 1.0},
    )
