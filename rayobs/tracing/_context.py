"""Spans for traced calls: start, finish, and the W3C context a caller hands on.

One span per task or actor call, started in the process that runs it, with the
caller's context (carried by ``rayobs.tracing._ray_patch``) as its parent, so driver →
task → nested task → actor method form one trace. An exception is recorded as
a span event and sets the status to ERROR; an intended exit (``exit_actor()``,
``sys.exit(0)``, see ``rayobs._outcome``) is an ``exit`` event and leaves the
status unset. Everything goes through the OpenTelemetry API; without a
configured provider spans are no-ops that still hand the context on.

Unsampled calls take a short path that creates no span at all: the caller's
"not sampled" decision is simply handed on to nested calls (a span, even a
non-recording one, costs several microseconds).
"""

from __future__ import annotations

import contextvars
import logging
import random
import sys
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from rayobs import _extensions, _outcome
from rayobs.tracing import _provider

logger = logging.getLogger("rayobs")

# The W3C headers of an unsampled ancestor while a call under it runs, or
# _NEW_ROOT for an unsampled new trace whose ids are made only if a nested call
# needs them.
_NEW_ROOT: dict[str, str] = {}
_unsampled: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "rayobs_unsampled", default=None
)


def current_carrier() -> dict[str, str] | None:
    """The current context as W3C headers, or ``None`` when there is nothing to continue."""
    span = trace.get_current_span()
    if span.get_span_context().is_valid:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        return carrier
    inherited = _unsampled.get()
    if inherited is _NEW_ROOT:
        inherited = _unsampled_root()
        _unsampled.set(inherited)  # the same trace id for every nested call of this one
    return inherited


def arrived_with() -> dict[str, str] | None:
    """The context an outermost call arrived with, from the integrations (a Serve
    handle call, an HTTP ``traceparent``); ``None`` inside a traced call, whose
    span is the parent of everything it calls in process."""
    if not _extensions.carrier_sources:
        return None
    carrier = _extensions.incoming_carrier()  # outside Serve: None at once
    if carrier is None or _unsampled.get() is not None:
        return None
    return None if trace.get_current_span().get_span_context().is_valid else carrier


def static_attributes(kind: str, name: str) -> dict[str, str]:
    """The attributes every span of this callable carries."""
    if kind == "node":
        return {"rayobs.kind": kind, "hamilton.node": name}
    if kind == "actor" and "." in name:
        cls, method = name.rsplit(".", 1)
        return {"rayobs.kind": kind, "ray.actor.class": cls, "ray.actor.method": method}
    return {"rayobs.kind": kind, "ray.task.name": name}


_job_id: str | None = None  # one per process: read once


def _ray_ids() -> dict[str, str]:
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return {}
    ids: dict[str, str] = {}
    try:
        ctx = ray.get_runtime_context()
        global _job_id
        if _job_id is None:
            _job_id = ctx.get_job_id()
        ids["ray.job_id"] = _job_id
        task_id = ctx.get_task_id()
        if task_id:
            ids["ray.task_id"] = task_id
        actor_id = ctx.get_actor_id()
        if actor_id:
            ids["ray.actor_id"] = actor_id
    except Exception:  # outside a task, or an older Ray: the ids are a bonus
        pass
    return ids


def _sampled_flag(carrier: dict[str, str]) -> bool | None:
    header = carrier.get("traceparent", "")
    if len(header) == 55:  # version-traceid-spanid-flags
        try:
            return bool(int(header[53:55], 16) & 1)
        except ValueError:
            return None
    return None


def _unsampled_root() -> dict[str, str]:
    trace_id = random.getrandbits(128) or 1
    span_id = random.getrandbits(64) or 1
    return {"traceparent": f"00-{trace_id:032x}-{span_id:016x}-00"}


def start(name: str, attributes: dict[str, str], carrier: dict[str, str] | None) -> tuple[Any, Any]:
    """Start the call's span under the caller's context; returns what ``finish`` needs."""
    inherited = carrier or _unsampled.get()
    if inherited is not None:
        if inherited is _NEW_ROOT or _sampled_flag(inherited) is False:
            return None, _unsampled.set(inherited)
    else:
        ratio = _provider.ratio()
        if (
            ratio is not None
            and ratio < 1.0
            and random.random() >= ratio  # a new trace here would not be sampled
            and not trace.get_current_span().get_span_context().is_valid
        ):
            return None, _unsampled.set(_NEW_ROOT)
    parent = propagate.extract(carrier) if carrier else None
    # "ok" up front: one batch of attributes is cheaper than a second call on success
    span = _provider.tracer().start_span(
        name,
        context=parent,
        kind=SpanKind.SERVER,
        attributes={**attributes, **_ray_ids(), "rayobs.outcome": "ok"},
    )
    token = context.attach(trace.set_span_in_context(span, parent))
    return span, token


def finish(span: Any, token: Any, exc: BaseException | None) -> None:
    """End the span: outcome, exception event and status; restore the previous context."""
    if span is None:
        if token is not None:
            _unsampled.reset(token)
        return
    if token is not None:
        context.detach(token)
    if exc is not None and span.is_recording():
        outcome = _outcome.of(exc)
        span.set_attribute("rayobs.outcome", outcome)
        if isinstance(exc, SystemExit):
            span.set_attribute("rayobs.exit_code", _outcome.exit_status(exc))
        if outcome == _outcome.EXIT:
            span.add_event("exit", _exit_attributes(exc))
        else:
            span.record_exception(exc, escaped=True)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
    span.end()


def _exit_attributes(exc: BaseException) -> dict[str, str]:
    """What ended the call; Ray's ``exit_actor()`` also leaves its reason on the exception."""
    from rayobs._outcome import exception_name

    attributes = {"exception.type": exception_name(type(exc))}
    reason = getattr(exc, "ray_terminate_msg", None)
    if isinstance(reason, str) and reason:
        attributes["exception.message"] = reason
    return attributes


def suspend(span: Any, token: Any) -> tuple[str, Any]:
    """Leave a generator call's context right after ``start``; ``resume`` re-enters it
    around each step, so the consumer never runs inside it."""
    if span is None:
        carrier = _unsampled.get()
        if token is not None:
            _unsampled.reset(token)
        return ("unsampled", carrier)
    context.detach(token)
    return ("span", trace.set_span_in_context(span))


def resume(saved: tuple[str, Any]) -> tuple[str, Any]:
    kind, value = saved
    if kind == "unsampled":
        return (kind, _unsampled.set(value))
    return (kind, context.attach(value))


def pause(entered: tuple[str, Any]) -> None:
    kind, token = entered
    if kind == "unsampled":
        _unsampled.reset(token)
    else:
        context.detach(token)
