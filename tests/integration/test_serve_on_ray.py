"""rayobs.instrument on Ray Serve, on a private Ray in a network namespace of its own.

Serve's replicas bind their gRPC server on all interfaces (Ray 2.60), so Serve
runs in a namespace where only loopback exists: ``_serve_driver.py`` starts Ray,
Prometheus and Serve there, deploys ``_serve_apps`` bare and instrumented, calls
both over HTTP and through handles, and reports what it saw once Prometheus has
scraped every count. One run serves every test here.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests import requires
from tests.harness import run_private
from tests.tracebacks import rayobs_files_in

pytestmark = [pytest.mark.ray, pytest.mark.prometheus]  # a Ray and a Prometheus of its own

DRIVER = Path(__file__).with_name("_serve_driver.py")
HEADER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
HEADER_SPAN = "00f067aa0ba902b7"
RAY_VALUE_ERROR = "ray.exceptions.RayTaskError(ValueError)"


@pytest.fixture(scope="module")
def run() -> dict[str, Any]:
    requires.module("fastapi", "serve")  # what the serve extra adds to Ray
    requires.program("prometheus", requires.DEBIAN_PROMETHEUS)
    return run_private(DRIVER, timeout=240)


def test_results_exceptions_and_tracebacks_are_unchanged(run: dict[str, Any]) -> None:
    assert run["instrumented"] == run["bare"]
    http = run["instrumented"]["http"]
    assert http[0] == [200, '{"result":3.0}']  # 2 * 1 + 1, through two handles
    assert http[3] == [500, "Internal Server Error"]
    assert http[4] == [404, '{"detail":"no a"}']
    assert http[5] == [200, "0\n1\n2\nerror: RayTaskError(RuntimeError)\n"]
    handles = run["instrumented"]["handles"]
    assert handles[3] == ["ok", [0, 1, 2]]
    kind, text = handles[4]
    assert kind == "RayTaskError(ValueError)" and text.rstrip().endswith("cannot scale -2")
    assert rayobs_files_in(text) == []  # the replica's traceback shows only the user's frames
    assert "_serve_apps.py" in text


def test_calls_per_application_deployment_and_method(run: dict[str, Any]) -> None:
    assert run["scraped"]["calls"] == {
        # app | component (the deployment) | kind | name | outcome
        "calc|Api|actor|Api.__init__|ok": 1.0,
        "calc|Api|actor|Api.compute|ok": 5.0,  # HTTP x=1,2,3,7 and one handle call
        "calc|Api|actor|Api.compute|error": 1.0,  # x=-1
        "calc|Api|actor|Api.missing|error": 1.0,  # HTTPException(404)
        "calc|Api|actor|Api.stream|ok": 1.0,  # returns at once; the stream runs after
        "calc|Offset|actor|Offset.__init__|ok": 1.0,
        "calc|Offset|actor|Offset.__call__|ok": 5.0,
        "calc|Offset|actor|Offset.__call__|error": 1.0,
        "calc|Scaler|actor|Scaler.__init__|ok": 1.0,
        "calc|Scaler|actor|Scaler.__call__|ok": 5.0,
        "calc|Scaler|actor|Scaler.__call__|error": 2.0,  # x=-1 over HTTP, -2 by handle
        "calc|Scaler|actor|Scaler.count|ok": 1.0,  # a stream read to its end
        "calc|Scaler|actor|Scaler.count|error": 1.0,  # a stream that broke at 3
        "greet|greet|task|greet|ok": 1.0,
        "shout|shout|task|shout|ok": 2.0,
        "shout|shout|task|shout|error": 1.0,
    }


def test_errors_by_exception_type(run: dict[str, Any]) -> None:
    assert run["scraped"]["errors"] == {
        "calc|Api|Api.compute|" + RAY_VALUE_ERROR: 1.0,
        "calc|Api|Api.missing|fastapi.exceptions.HTTPException": 1.0,
        "calc|Offset|Offset.__call__|" + RAY_VALUE_ERROR: 1.0,
        "calc|Scaler|Scaler.__call__|ValueError": 2.0,
        "calc|Scaler|Scaler.count|RuntimeError": 1.0,
        "shout|shout|shout|KeyError": 1.0,
    }


def test_every_call_has_a_duration_and_none_is_left_in_flight(run: dict[str, Any]) -> None:
    calls: Counter[str] = Counter()
    for key, value in run["scraped"]["calls"].items():
        app, component, _kind, name, _outcome = key.split("|")
        calls[f"{app}|{component}|{name}"] += int(value)
    assert run["scraped"]["durations"] == {key: float(n) for key, n in calls.items()}
    assert set(run["scraped"]["in_flight"].values()) == {0.0}
    assert set(run["scraped"]["in_flight"]) == set(calls)


def _spans_by_name(run: dict[str, Any], trace_id: str) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in run["spans"] if s["trace_id"] == trace_id}


def test_an_http_request_is_one_trace_from_its_traceparent_through_the_handles(
    run: dict[str, Any],
) -> None:
    spans = _spans_by_name(run, HEADER_TRACE)
    by_id = {s["span_id"]: s for s in spans.values()}

    def ancestors(span: dict[str, Any]) -> list[str]:
        chain = []
        parent = span["parent_span_id"]
        while parent in by_id:
            chain.append(by_id[parent]["name"])
            parent = by_id[parent]["parent_span_id"]
        chain.append(parent)  # the first span outside the replicas: the header's
        return chain

    assert ancestors(spans["Scaler.__call__"])[:2] == ["Offset.__call__", "Api.compute"]
    # FastAPI (>= 0.16x) adds spans of its own between the header and the route
    assert ancestors(spans["Api.compute"])[-1] == HEADER_SPAN
    api = spans["Api.compute"]["attributes"]
    assert api["ray.actor.class"] == "Api" and api["rayobs.outcome"] == "ok"


def test_a_handle_call_from_the_driver_joins_the_driver_trace(run: dict[str, Any]) -> None:
    driver = next(s for s in run["spans"] if s["name"] == "driver")
    spans = _spans_by_name(run, driver["trace_id"])
    assert spans["shout"]["parent_span_id"] == driver["span_id"]
    assert spans["shout"]["attributes"]["rayobs.kind"] == "task"


def test_the_run_is_quick(run: dict[str, Any]) -> None:
    assert run["seconds"] < 110, run["seconds"]
