"""Ray Serve: ``@rayobs.instrument`` on deployments, with no other change to them.

Above or below ``@serve.deployment``, on a class or a function deployment::

    @rayobs.instrument(trace=True)
    @serve.deployment
    @serve.ingress(app)
    class Api:
        def __init__(self, model: DeploymentHandle): self.model = model
        @app.get("/predict")
        async def predict(self, x: float): return await self.model.remote(x)

What this module adds to the plain wrappers:

- **Deployments** (``Deployment`` objects): the class or function inside is
  instrumented and the deployment rebuilt around it with every option kept
  (Serve pickles the class when ``@serve.deployment`` runs, so changing it in
  place would not reach the replicas).
- **FastAPI ingress**: FastAPI calls the route functions it registered when the
  class body ran, not the class's attributes. The ingress class's ASGI entry
  hands every class-based route to the same wrapper as the method, once per
  replica, so each route method counts as ``Class.method``; the entry itself
  is Serve's, not counted.
- **Tags**: calls that set no ``app``/``component`` get them from the replica
  context at push time: ``app`` = the Serve application, ``component`` = the
  deployment (``replica_tags``). Replicas differ by Ray's ``WorkerId``.
- **Trace context**: a ``DeploymentHandle`` call carries the caller's context
  in the request's metadata (``tracing_context``, which Serve fills only when
  its own tracing is on), and the replica keeps it in the request context;
  an HTTP request's W3C ``traceparent`` header is read at the ingress entry.
  Either becomes the parent of the first traced call the request makes.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import inspect
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

from rayobs import _callshape, _extensions
from rayobs._errors import MetricDefinitionError
from rayobs.calls import _decorator
from rayobs.metrics import _failures

# Where a replica keeps the context a request arrived with (its _RequestContext).
TRACE_KEY = "_ray_trace_ctx"
_CARRIED = "_rayobs_carrier"  # the caller's context, kept on the request's metadata
_HEADERS = {b"traceparent": "traceparent", b"tracestate": "tracestate"}
_ROUTES_DONE = "_rayobs_routes"

_http_carrier: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "rayobs_serve_http_carrier", default=None
)
_install_lock = threading.Lock()
_installed: dict[str, Callable[..., Any]] = {}


# ---- decoration ----


def adapt(target: Any, options: Any) -> Any:
    """Instrument a Serve ``Deployment`` or an ingress class; ``NOT_MINE`` for the rest."""
    from ray.serve._private.http_util import ASGIAppReplicaWrapper
    from ray.serve.deployment import Deployment

    if isinstance(target, Deployment):
        return _deployment(target, options)
    if inspect.isclass(target) and issubclass(target, ASGIAppReplicaWrapper):
        return _ingress(target, options)
    return _extensions.NOT_MINE


def _deployment(deployment: Any, options: Any) -> Any:
    inner = deployment.func_or_class
    if isinstance(inner, str):
        raise MetricDefinitionError(
            f"rayobs.instrument: deployment {deployment.name!r} names its code by import path "
            f"({inner!r}); instrument the class or function in that module instead"
        )
    # Serve pickled the class or function when @serve.deployment ran: rebuild the
    # deployment around the instrumented one (its name and options are kept).
    return deployment.options(func_or_class=_decorator._apply(inner, options))


def _ingress(cls: type, options: Any) -> type:
    """Instrument an ``@serve.ingress`` class: its methods, and its routes at the ASGI entry."""
    if getattr(cls.__call__, _ROUTES_DONE, False):  # instrumenting twice measures once
        return cls
    plain = dataclasses.replace(options, exclude=options.exclude | {"__call__"})
    _decorator._instrument_class(cls, plain)
    entry = _entry(cls.__call__, options, options.name or cls.__name__)
    setattr(cls, "__call__", entry)  # noqa: B010  (mypy: a method is assigned here)
    return cls


def _entry(asgi_call: Callable[..., Any], options: Any, prefix: str) -> Callable[..., Any]:
    """The ingress class's ASGI entry: routes instrumented once, the HTTP context kept.

    It travels to the replicas pickled by value, so it names only picklable
    things and module-level functions.
    """

    @functools.wraps(asgi_call)
    async def __call__(self: Any, scope: Any, receive: Any, send: Any) -> None:
        token = _enter(self, scope, options, prefix)
        try:
            await asgi_call(self, scope, receive, send)
        except BaseException as exc:
            _callshape.drop_own_frame(exc, sys._getframe())
            raise
        finally:
            _leave(token)

    setattr(__call__, _ROUTES_DONE, True)
    return __call__


def _enter(replica: Any, scope: Any, options: Any, prefix: str) -> Any:
    """Instrument the routes (first request only); keep the request's W3C headers."""
    try:
        app = getattr(replica, "_asgi_app", None)
        if app is not None and not getattr(app, _ROUTES_DONE, False):
            instrument_routes(app, options, prefix)
        if options.trace and scope.get("type") == "http":
            carrier = {
                _HEADERS[key]: value.decode("latin-1")
                for key, value in scope.get("headers", ())
                if key in _HEADERS
            }
            if "traceparent" in carrier:
                return _http_carrier.set(carrier)
    except Exception as exc:
        _failures.report(prefix, "serve ingress", exc)
    return None


def _leave(token: Any) -> None:
    # a module-level function: the entry is pickled by value and must not hold the
    # context variable itself
    if token is not None:
        _http_carrier.reset(token)


def instrument_routes(app: Any, options: Any, prefix: str) -> int:
    """Give every class-based route of a FastAPI ``app`` the method's wrapper; returns
    how many routes were instrumented.

    FastAPI calls ``route.dependant.call`` for each request, and builds the routes
    of an included router from ``route.endpoint`` (FastAPI >= 0.137): both become
    the wrapper (same kind of callable, same signature), which counts into the
    same records as the class's method.
    """
    count = 0
    for route, parent in _class_routes(app):
        call = route.endpoint
        if hasattr(call, _decorator._MARK):
            continue
        display = f"{prefix}.{getattr(call, '__name__', 'route')}"
        wrapped = _decorator._wrap(call, "actor", options, display)
        route.endpoint = wrapped
        if getattr(route, "dependant", None) is not None:
            route.dependant.call = wrapped
        changed = getattr(parent, "_mark_routes_changed", None)
        if changed is not None:  # included routes are rebuilt from the endpoint
            changed()
        count += 1
    setattr(app, _ROUTES_DONE, True)
    return count


def _class_routes(app: Any) -> Iterator[tuple[Any, Any]]:
    """``(route, its router)`` for the routes ``@serve.ingress`` made from methods
    (their endpoints know the class); none for an ASGI app that is not a router."""
    if not hasattr(app, "routes"):
        return
    try:
        from ray.serve._private.http_util import _walk_fastapi_routes

        routes: Iterator[tuple[Any, Any]] = (
            (route, parent) for route, parent, _prefix in _walk_fastapi_routes(app)
        )
    except ImportError:  # an older Serve: routes are a flat list
        routes = ((route, app) for route in getattr(app, "routes", ()))
    for route, parent in routes:
        if getattr(getattr(route, "endpoint", None), "_serve_cls", None) is not None:
            yield route, parent


# ---- in the replica: tags and the incoming context ----


def replica_tags() -> dict[str, str] | None:
    """``{"app": <application>, "component": <deployment>}`` inside a replica, else ``None``."""
    context = sys.modules.get("ray.serve.context")
    if context is None:
        return None
    # Serve's own getter: None outside a replica, where serve.get_replica_context() raises
    replica = context._get_internal_replica_context()
    if replica is None:
        return None
    return {"app": replica.app_name, "component": replica.deployment}


def incoming_carrier() -> dict[str, str] | None:
    """The context the current request arrived with: a handle caller's, else HTTP's."""
    context = sys.modules.get("ray.serve.context")
    if context is not None:
        request = context._serve_request_context.get()
        carried = getattr(request, TRACE_KEY, None)
        if isinstance(carried, dict) and "traceparent" in carried:
            return carried
    return _http_carrier.get()


# ---- callers: the context crosses DeploymentHandle calls ----


def install() -> None:
    """Make ``DeploymentHandle`` calls carry the caller's context (once; safe to repeat).

    A handle call's ``RequestMetadata`` is made in the caller's thread
    (``_DeploymentHandleBase._init_router_and_get_metadata``), where the
    caller's context is current: it is kept on the metadata there. The router
    then sends the request from its own event loop (``RunningReplica.
    try_send_request``); there the context goes into the metadata's
    ``tracing_context``, which Serve leaves empty unless its own tracing is on,
    and which the replica hands to the request context (``_ray_trace_ctx``).
    """
    with _install_lock:
        if _installed:
            return
        handle = sys.modules.get("ray.serve.handle")
        if handle is None:
            return
        from ray.serve._private.request_router.replica_wrapper import RunningReplica

        base = handle._DeploymentHandleBase
        make_metadata, send = base._init_router_and_get_metadata, RunningReplica.try_send_request

        def _init_router_and_get_metadata(self: Any) -> Any:
            router, metadata = make_metadata(self)
            _keep_context(metadata)
            return router, metadata

        def try_send_request(self: Any, pr: Any, with_rejection: bool) -> Any:
            _hand_on_context(pr)
            return send(self, pr, with_rejection)

        functools.update_wrapper(_init_router_and_get_metadata, make_metadata)
        functools.update_wrapper(try_send_request, send)
        _installed.update(metadata=make_metadata, send=send)
        setattr(base, "_init_router_and_get_metadata", _init_router_and_get_metadata)  # noqa: B010
        setattr(RunningReplica, "try_send_request", try_send_request)  # noqa: B010


def uninstall() -> None:
    """Put Serve's own methods back."""
    with _install_lock:
        if not _installed:
            return
        from ray.serve._private.request_router.replica_wrapper import RunningReplica

        handle = sys.modules["ray.serve.handle"]
        base = handle._DeploymentHandleBase
        setattr(base, "_init_router_and_get_metadata", _installed.pop("metadata"))  # noqa: B010
        setattr(RunningReplica, "try_send_request", _installed.pop("send"))  # noqa: B010


def _keep_context(metadata: Any) -> None:
    try:
        from rayobs.tracing import _context

        carrier = _context.current_carrier()
        if carrier:
            metadata.__dict__[_CARRIED] = carrier
    except Exception as exc:  # the call goes on, untraced
        _failures.report("DeploymentHandle", "trace", exc)


def _hand_on_context(pending: Any) -> None:
    try:
        metadata = pending.metadata
        carrier = metadata.__dict__.get(_CARRIED)
        if carrier and metadata.tracing_context is None:
            metadata.tracing_context = carrier
    except Exception as exc:
        _failures.report("DeploymentHandle", "trace", exc)
