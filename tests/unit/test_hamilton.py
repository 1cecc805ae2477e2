"""rayobs.hamilton in process: per-node records, results and tracebacks unchanged, spans.

The same dataflow modules as the Ray tests (plain functions); the Ray executors
are tested on a real cluster in ``tests/integration/test_hamilton_on_ray.py``.
"""

from __future__ import annotations

import pickle
import traceback
from typing import Any

import pytest

from tests import requires

requires.module("hamilton", "hamilton")

from hamilton import driver  # noqa: E402

import rayobs  # noqa: E402
import rayobs.otel  # noqa: E402
from rayobs.hamilton import NodeMetrics  # noqa: E402
from rayobs.testing import capture_metrics, reset_tracing  # noqa: E402
from tests.integration import _hamilton_dataflow, _hamilton_parallel  # noqa: E402

MODULE = "tests.integration._hamilton_dataflow"


def _driver(*adapters: Any) -> driver.Driver:
    return driver.Builder().with_modules(_hamilton_dataflow).with_adapters(*adapters).build()


def _outcome(dr: driver.Driver, n: int) -> tuple[str, Any]:
    try:
        return ("ok", dr.execute(["report"], inputs={"n": n}))
    except ZeroDivisionError as exc:
        frames = [f.name for f in traceback.extract_tb(exc.__traceback__)]
        return (f"{type(exc).__name__}: {exc}", frames)


def test_every_node_is_counted_and_results_and_tracebacks_are_unchanged() -> None:
    bare = _driver()
    with capture_metrics() as metrics:
        instrumented = _driver(NodeMetrics(tags={"app": "unit"}))
        results = [_outcome(instrumented, n) for n in (4, 2, 0)]
    assert results == [_outcome(bare, n) for n in (4, 2, 0)]
    assert results[0] == ("ok", {"report": {"mean": 3.5, "total": 14.0}})
    assert results[2][0] == "ZeroDivisionError: division by zero"
    assert metrics.calls("values") == {"ok": 3}
    assert metrics.calls("mean") == {"ok": 2, "error": 1}
    assert metrics.errors("mean") == {"ZeroDivisionError": 1}
    assert metrics.calls("report") == {"ok": 2}  # never ran after mean failed
    assert metrics.duration("total").count == 3
    assert metrics.in_flight("mean") == 0
    # kind node, the module as the dataflow, the app for every node
    assert metrics.value("rayobs_calls", kind="node", component=MODULE, app="unit") == 3 * 4 + 2


def test_the_dataflow_can_be_named() -> None:
    with capture_metrics() as metrics:
        _driver(NodeMetrics("pricing")).execute(["total"], inputs={"n": 3})
    assert metrics.value("rayobs_calls", name="total", component="pricing", outcome="ok") == 1
    assert metrics.value("rayobs_calls", component=MODULE) is None


def test_parallel_nodes_under_dynamic_execution() -> None:
    dr = (
        driver.Builder()
        .enable_dynamic_execution(allow_experimental_mode=True)
        .with_modules(_hamilton_parallel)
        .with_adapters(NodeMetrics("fanout"))
        .build()
    )
    with capture_metrics() as metrics:
        assert dr.execute(["summed"], inputs={"count": 4}) == {"summed": 60}
    assert metrics.calls("scaled") == {"ok": 4}
    assert metrics.calls("item") == {"ok": 1} and metrics.calls("summed") == {"ok": 1}


def test_nodes_are_spans_under_the_execute_span() -> None:
    reset_tracing()
    rayobs.otel.configure_tracing("memory")
    try:
        dr = _driver(NodeMetrics("traced", trace=True))
        dr.execute(["report"], inputs={"n": 3})
        with pytest.raises(ZeroDivisionError):
            dr.execute(["report"], inputs={"n": 0})
        spans = rayobs.otel.memory_spans()
    finally:
        reset_tracing()
    executes = [s for s in spans if s.name == "execute"]
    assert len(executes) == 2 and all(s.parent is None for s in executes)
    for run, nodes in zip(executes, (5, 4), strict=True):
        children = [s for s in spans if s.parent and s.parent.span_id == run.context.span_id]
        assert len(children) == nodes
        assert {s.context.trace_id for s in children} == {run.context.trace_id}
        assert {s.attributes["rayobs.kind"] for s in children} == {"node"}
        assert {s.attributes["hamilton.dataflow"] for s in children} == {"traced"}
    failed = [s for s in spans if s.status.status_code.name == "ERROR"]
    assert sorted(s.name for s in failed) == ["execute", "mean"]
    assert failed[0].events[0].attributes["exception.type"] == "ZeroDivisionError"


def test_an_untraced_adapter_makes_no_spans() -> None:
    reset_tracing()
    rayobs.otel.configure_tracing("memory")
    try:
        _driver(NodeMetrics()).execute(["total"], inputs={"n": 2})
        assert rayobs.otel.memory_spans() == []
    finally:
        reset_tracing()


def test_the_adapter_pickles_as_ray_ships_it() -> None:
    adapter = NodeMetrics("features", tags={"team": "data"}, trace=True)
    adapter.carriers["run"] = {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}
    copy = pickle.loads(pickle.dumps(adapter))
    assert repr(copy) == repr(adapter)
    assert copy.carriers == adapter.carriers
    assert (copy.metrics, copy.duration) == (adapter.metrics, adapter.duration)


def test_every_node_task_carries_a_small_adapter_and_a_worker_keeps_one() -> None:
    # Hamilton on Ray pickles the adapters into every node's task
    adapter = NodeMetrics("features", tags={"team": "data"})
    blob = pickle.dumps(adapter)
    assert len(blob) < 200, len(blob)
    first, second = pickle.loads(blob), pickle.loads(blob)
    assert first is second
    assert repr(first) == repr(adapter)


def test_a_chosen_histogram_and_metrics_survive_pickling() -> None:
    histogram = rayobs.Histogram(
        "hamilton_node_seconds",
        "Node duration.",
        boundaries=[0.1, 1.0],
        tag_keys=("name", "outcome"),
    )
    adapter = NodeMetrics(metrics=["calls", "duration"], duration_histogram=histogram)
    copy = pickle.loads(pickle.dumps(adapter))
    assert copy.metrics == frozenset({"calls", "duration"})
    assert copy.duration == histogram


class _Labelled(NodeMetrics):
    def __init__(self, label: str) -> None:
        super().__init__("features")
        self.label = label


def test_a_subclass_keeps_its_own_state_when_pickled() -> None:
    copy = pickle.loads(pickle.dumps(_Labelled("mine")))
    assert type(copy) is _Labelled
    assert copy.label == "mine"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dataflow": ""}, "must be a name"),
        ({"tags": {"component": "x"}}, "pass dataflow="),
        ({"tags": {"colour": "red"}}, "unknown keys"),
        ({"metrics": ["calls", "latency"]}, "choose from"),
    ],
)
def test_bad_options_raise_at_once(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(rayobs.MetricDefinitionError, match=message):
        NodeMetrics(**kwargs)


def test_docstring_example() -> None:
    import doctest

    from rayobs.integrations import hamilton

    assert doctest.testmod(hamilton).failed == 0
