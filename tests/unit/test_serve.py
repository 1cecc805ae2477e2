"""rayobs.integrations.serve without a cluster: decoration, ingress routes, the handle patch.

The deployments are real Serve ``Deployment`` objects and the ingress a real
FastAPI app, driven in process through its ASGI interface; what needs replicas
(tags from the replica context, contexts across handles) is tested on a real
Ray in ``tests/integration/test_serve_on_ray.py``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import subprocess
import sys
from typing import Any

import pytest

from tests import requires

requires.module("fastapi", "serve")

import ray.cloudpickle  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from ray import serve  # noqa: E402
from ray.serve._private.http_util import _walk_fastapi_routes  # noqa: E402

import rayobs  # noqa: E402
import rayobs.otel  # noqa: E402
from rayobs import _extensions  # noqa: E402
from rayobs.integrations import serve as rayobs_serve  # noqa: E402
from rayobs.testing import capture_metrics, reset_tracing  # noqa: E402


class Model:
    def __init__(self, factor: int = 2) -> None:
        self.factor = factor

    def __call__(self, x: int) -> int:
        return self.factor * x

    def explain(self, x: int) -> str:
        return f"{x} times {self.factor}"


def test_a_class_deployment_is_rebuilt_with_its_options() -> None:
    deployment = serve.deployment(
        type("Model", (Model,), {}), name="model", num_replicas=3, ray_actor_options={"num_cpus": 0}
    )
    instrumented = rayobs.instrument(deployment, tags={"team": "ml"})
    assert isinstance(instrumented, type(deployment)) and instrumented is not deployment
    assert instrumented.name == "model" and instrumented.num_replicas == 3
    assert instrumented.ray_actor_options == {"num_cpus": 0}
    cls = instrumented.func_or_class
    for method in ("__init__", "__call__", "explain"):
        assert hasattr(getattr(cls, method), "__rayobs_site__"), method
    assert inspect.signature(cls.__call__) == inspect.signature(Model.__call__)
    with capture_metrics() as metrics:
        model = cls(3)
        assert model(2) == 6 and model.explain(1) == "1 times 3"
    assert metrics.calls("Model.__call__") == {"ok": 1}
    assert metrics.value("rayobs_calls", name="Model.explain", team="ml") == 1


async def _double(x: int) -> int:
    return 2 * x


def test_a_function_deployment_keeps_its_name_and_stays_async() -> None:
    instrumented = rayobs.instrument(serve.deployment(_double))
    assert instrumented.name == "_double"
    assert inspect.iscoroutinefunction(instrumented.func_or_class)
    with capture_metrics() as metrics:
        assert asyncio.run(instrumented.func_or_class(4)) == 8
    assert metrics.calls("_double") == {"ok": 1}


def test_a_deployment_named_by_import_path_is_refused() -> None:
    deployment = serve.deployment(Model).options(func_or_class="some.module:Model")
    with pytest.raises(rayobs.MetricDefinitionError, match="import path"):
        rayobs.instrument(deployment)


def _ingress_class(app: FastAPI) -> type:
    class Api:
        def __init__(self) -> None:
            self.seen = 0

        @app.get("/double")
        def double(self, x: int) -> dict[str, int]:
            self.seen += 1
            return {"result": 2 * x}

        @app.get("/boom")
        async def boom(self) -> None:
            raise KeyError("boom")

    return serve.ingress(app)(Api)


def _replica(cls: type) -> Any:
    """The ingress class as a replica holds it: the app ingress froze, self injected."""
    replica = cls.__new__(cls)
    replica.seen = 0
    init = inspect.unwrap(cls.__init__)  # ingress's own __init__ closes over the frozen app
    cells = dict(zip(init.__code__.co_freevars, init.__closure__ or (), strict=True))
    frozen = replica._asgi_app = cells["frozen_app_or_func"].cell_contents
    for route, _parent, _prefix in _walk_fastapi_routes(frozen):
        # Serve injects self from its replica context: here, this instance
        injected = inspect.signature(route.endpoint).parameters["self"].default.dependency
        frozen.dependency_overrides[injected] = lambda: replica
    return replica


def _get(replica: Any, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    target, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": target,
        "raw_path": target.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1234),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def call() -> None:
        await replica(scope, receive, send)

    try:
        asyncio.run(call())
    except KeyError as exc:  # Starlette sends the 500, then re-raises for the server
        return 500, repr(exc)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body)


def test_ingress_routes_count_as_the_class_methods() -> None:
    app = FastAPI()
    cls = rayobs.instrument(_ingress_class(app), name="Api")
    assert inspect.iscoroutinefunction(cls.__call__)
    assert not hasattr(cls.__call__, "__rayobs_site__")  # Serve's ASGI entry is not counted
    assert rayobs.instrument(cls) is cls  # twice measures once
    replica = _replica(cls)
    with capture_metrics() as metrics:
        assert _get(replica, "/double?x=21") == (200, {"result": 42})
        assert _get(replica, "/double?x=1") == (200, {"result": 2})
        assert _get(replica, "/boom") == (500, "KeyError('boom')")
        assert cls.double(replica, x=5) == {"result": 10}  # what a handle call does
    assert replica.seen == 3
    assert metrics.calls("Api.double") == {"ok": 3}
    assert metrics.errors("Api.boom") == {"KeyError": 1}


def test_a_traceparent_header_is_the_parent_of_the_route_span() -> None:
    app = FastAPI()
    cls = rayobs.instrument(_ingress_class(app), name="Traced", trace=True)
    replica = _replica(cls)
    reset_tracing()
    rayobs.otel.configure_tracing("memory")
    try:
        trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
        header = {"traceparent": f"00-{trace_id}-{parent}-01"}
        assert _get(replica, "/double?x=2", header) == (200, {"result": 4})
        spans = {s.name: s for s in rayobs.otel.memory_spans()}
        route = spans["Traced.double"]
        assert f"{route.context.trace_id:032x}" == trace_id
        ancestors = []
        current = route
        while current.parent is not None:
            ancestors.append(f"{current.parent.span_id:016x}")
            current = next(
                (s for s in spans.values() if s.context.span_id == current.parent.span_id),
                None,
            )
            if current is None:
                break
        assert ancestors[-1] == parent  # FastAPI may trace the request itself in between
    finally:
        reset_tracing()


def test_the_ingress_class_pickles_by_value_with_its_entry() -> None:
    app = FastAPI()
    cls = rayobs.instrument(_ingress_class(app), name="Pickled")
    copy = ray.cloudpickle.loads(ray.cloudpickle.dumps(cls))
    assert getattr(copy.__call__, "_rayobs_routes", False)
    assert hasattr(copy.double, "__rayobs_site__")


def test_outside_a_replica_there_are_no_serve_tags_and_no_carrier() -> None:
    assert rayobs_serve.replica_tags() is None
    assert rayobs_serve.incoming_carrier() is None
    assert _extensions.context_tags() == {}


def test_the_handle_patch_installs_once_and_uninstalls() -> None:
    from ray.serve._private.request_router.replica_wrapper import RunningReplica
    from ray.serve.handle import _DeploymentHandleBase

    rayobs_serve.uninstall()  # tracing used earlier in this process installed it
    originals = (
        _DeploymentHandleBase._init_router_and_get_metadata,
        RunningReplica.try_send_request,
    )
    rayobs_serve.install()
    try:
        patched = (
            _DeploymentHandleBase._init_router_and_get_metadata,
            RunningReplica.try_send_request,
        )
        assert patched != originals
        rayobs_serve.install()  # again: nothing more
        assert (
            _DeploymentHandleBase._init_router_and_get_metadata,
            RunningReplica.try_send_request,
        ) == patched
    finally:
        rayobs_serve.uninstall()
    current = (_DeploymentHandleBase._init_router_and_get_metadata, RunningReplica.try_send_request)
    assert current == originals


def test_importing_rayobs_loads_neither_serve_nor_hamilton() -> None:
    code = (
        "import sys, rayobs, rayobs.integrations\n"
        "print(sorted(m for m in ('ray', 'ray.serve', 'hamilton', 'fastapi') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_an_ingress_app_that_is_not_a_router_is_left_alone() -> None:
    async def plain_asgi(scope: Any, receive: Any, send: Any) -> None:  # e.g. a bare ASGI app
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    from rayobs.calls._options import Options

    options = Options.build(None, None, None, None, None, None, False, False)
    assert rayobs_serve.instrument_routes(plain_asgi, options, "Plain") == 0
