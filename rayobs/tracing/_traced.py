"""Traced wrappers: a span around each call, the caller's context as its parent.

They sit outside the metrics wrapper and keep the same guarantees: the function's
kind, name, signature and docstring; its results and exceptions untouched (the
wrapper's frame is dropped from tracebacks); and tracing failures never reach the
user's code. The ``_rayobs_trace`` key that Ray hands over is popped here, so
the user's function never sees it. A call that came some other way (a Serve
handle, an HTTP request) takes the context its integration found.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rayobs import _callshape
from rayobs.metrics import _failures
from rayobs.tracing import _context
from rayobs.tracing._ray_patch import TRACE_KWARG

Handle = tuple[Any, Any] | None  # (span, context token), or None when tracing failed


def traced(inner: Callable[..., Any], user_fn: Callable[..., Any], kind: str, name: str) -> Any:
    """Wrap ``inner`` (the metrics wrapper of ``user_fn``) with a span per call."""
    attributes = _context.static_attributes(kind, name)

    def start(kwargs: dict[str, Any]) -> Handle:
        carrier = kwargs.pop(TRACE_KWARG, None)
        try:
            if carrier is None:
                carrier = _context.arrived_with()
            return _context.start(name, attributes, carrier)
        except Exception as exc:
            _failures.report(name, "trace", exc)
            return None

    def finish(handle: Handle, exc: BaseException | None) -> None:
        if handle is None:
            return
        try:
            _context.finish(handle[0], handle[1], exc)
        except Exception as error:
            _failures.report(name, "trace", error)

    return _callshape.wrap(inner, start, finish, _STEPS)


def _suspend(handle: Handle) -> tuple[Handle, Any]:
    """Leave the context right after the start; the finish must not detach it again."""
    if handle is None:
        return None, None
    try:
        saved = _context.suspend(*handle)
    except Exception:
        saved = None
    return (handle[0], None), saved


_STEPS = _callshape.Steps(suspend=_suspend, resume=_context.resume, pause=_context.pause)
