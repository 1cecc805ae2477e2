"""Spans for traced calls: start, finish, and the W3C context a caller hands on.

One span per task or actor call, started in the process that runs it, with the
caller's context (carried by ``rayobs._ray_patch``) as its parent, so driver →
task → nested task → actor method form one trace. Attributes follow the names
below; an exception is recorded as a span event and sets the status to ERROR.
Everything goes through the OpenTelemetry API: sampling is the tracer
provider's, and without a configured provider spans are no-ops that still hand
the context on.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from rayobs import _config

logger = logging.getLogger("rayobs")


class _State:
    tracer: Any = None
    configured_from_env = False
    job_id: str | None = None


_state = _State()
_lock = threading.RLock()


def tracer() -> Any:
    """The rayobs tracer; on first use, configures exporters from ``RAYOBS_TRACE_EXPORTER``."""
    found = _state.tracer
    if found is not None:
        return found
    with _lock:  # threaded actors: the first calls race to configure
        if _state.tracer is None:
            if not _state.configured_from_env:
                _state.configured_from_env = True
                if _config.get(_config.TRACE_EXPORTER).strip():
                    from rayobs import otel

                    otel.configure_tracing_from_env()
            from opentelemetry import trace

            _state.tracer = trace.get_tracer("rayobs")
        return _state.tracer


def reset() -> None:
    """Forget the tracer (after the provider changed)."""
    _state.tracer = None
    _state.configured_from_env = False


def current_carrier() -> dict[str, str] | None:
    """The current context as W3C headers, or ``None`` when there is no span to continue."""
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier or None


def _ray_ids() -> dict[str, str]:
    import sys

    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return {}
    ids: dict[str, str] = {}
    with contextlib.suppress(Exception):
        ctx = ray.get_runtime_context()
        if _state.job_id is None:
            _state.job_id = ctx.get_job_id()
        ids["ray.job_id"] = _state.job_id
        task_id = ctx.get_task_id()
        if task_id:
            ids["ray.task_id"] = task_id
        actor_id = ctx.get_actor_id()
        if actor_id:
            ids["ray.actor_id"] = actor_id
    return ids


def start(kind: str, name: str, carrier: dict[str, str] | None) -> tuple[Any, Any]:
    """Start the call's span under the caller's context and make it current."""
    from opentelemetry import context, propagate, trace

    parent = propagate.extract(carrier) if carrier else None
    attributes: dict[str, str] = {"rayobs.kind": kind, "rayobs.name": name}
    if kind == "actor" and "." in name:
        cls, method = name.rsplit(".", 1)
        attributes["ray.actor.class"] = cls
        attributes["ray.actor.method"] = method
    else:
        attributes["ray.task.name"] = name
    span = tracer().start_span(name, context=parent, kind=trace.SpanKind.SERVER)
    if span.is_recording():
        span.set_attributes({**attributes, **_ray_ids()})
    token = context.attach(trace.set_span_in_context(span, parent))
    return span, token


def finish(span: Any, token: Any, exc: BaseException | None) -> None:
    """End the span: outcome, exception event and status; restore the previous context."""
    from opentelemetry import context

    if token is not None:
        context.detach(token)
    if span.is_recording():
        if exc is None:
            span.set_attribute("rayobs.outcome", "ok")
        else:
            from opentelemetry.trace import Status, StatusCode

            span.set_attribute("rayobs.outcome", "error")
            span.record_exception(exc, escaped=True)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
    span.end()
