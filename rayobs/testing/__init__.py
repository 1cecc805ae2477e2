"""Helpers for testing code instrumented with rayobs.

>>> import rayobs
>>> from rayobs.testing import capture_metrics
>>> REQUESTS = rayobs.Counter("doc_requests", tag_keys=("route",))
>>> with capture_metrics() as metrics:
...     REQUESTS.inc(tags={"route": "/"})
...     REQUESTS.inc(tags={"route": "/"})
>>> metrics.value("doc_requests", route="/")
2.0

For a function or method decorated with ``rayobs.instrument``, ask about it
directly, or query the catalog metrics by any subset of their tags (the
counts are flushed for you):

>>> @rayobs.instrument
... def gen(n):
...     return list(range(n))
>>> with capture_metrics() as metrics:
...     _ = gen(3)
>>> metrics.calls(gen), metrics.errors(gen), metrics.duration(gen).count
({'ok': 1}, {}, 1)
>>> metrics.value("rayobs_calls", kind="task", name="gen", outcome="ok")
1.0

An unknown metric name raises ``LookupError`` naming the closest known one, an
unknown tag key raises ``TypeError``, and tags that match no series give ``None``:
see :class:`MemoryBackend`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rayobs import _config
from rayobs.backends._memory import HistogramValue
from rayobs.calls import _flusher
from rayobs.inspect._api import DEFAULT_MAX_DEPTH, DEFAULT_MAX_NODES, inspect_serializability
from rayobs.inspect._render import render_text
from rayobs.metrics import _failures, _registry
from rayobs.testing._backend import MemoryBackend

__all__ = [
    "HistogramValue",
    "MemoryBackend",
    "assert_serializable",
    "capture_metrics",
    "reset",
    "reset_tracing",
]


@contextmanager
def capture_metrics(*, strict: bool = True) -> Iterator[MemoryBackend]:
    """Record every handle into a fresh in-memory backend for the duration of the block.

    ``strict`` (default on) makes recording failures raise, so a test sees them.
    The previous backend and strictness are restored afterwards; calls counted
    in the block are pushed into the yielded backend on the way out.

    >>> import rayobs
    >>> from rayobs.testing import capture_metrics
    >>> with capture_metrics() as metrics:
    ...     rayobs.Gauge("doc_capture_depth").set(4)
    >>> metrics.value("doc_capture_depth")
    4.0
    """
    previous_strict = _config._overrides.get(_config.STRICT.env)
    backend = MemoryBackend()
    previous = _registry.use_backend(backend)
    _config.override(_config.STRICT, strict)
    try:
        yield backend
    finally:
        _config.override(_config.STRICT, previous_strict)
        _registry.use_backend(previous)


def reset() -> None:
    """Forget declarations, the backend, bound children, failure counts, overrides, and
    instrumented calls counted but not pushed yet.

    >>> import rayobs
    >>> from rayobs.testing import reset
    >>> rayobs.configure(strict=True)
    >>> reset()  # strict mode, like every override, is gone
    """
    _flusher.forget_pending()
    _registry.reset()
    _failures.reset()
    _config.clear_overrides()


def reset_tracing() -> None:
    """Forget the tracer provider rayobs configured: spans are no-ops again until the
    next ``rayobs.otel.configure_tracing`` (or ``RAYOBS_TRACE_EXPORTER`` on a first
    traced call).

    >>> import rayobs.otel
    >>> from rayobs.testing import reset_tracing
    >>> _ = rayobs.otel.configure_tracing("memory")
    >>> reset_tracing()
    >>> rayobs.otel.memory_spans()
    []
    """
    from rayobs.tracing import _provider  # needs OpenTelemetry: only when asked

    _provider.forget()


def assert_serializable(
    obj: object,
    *,
    name: str | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> None:
    """Fail the test (``AssertionError``) with the inspector's report unless Ray can pickle ``obj``.

    >>> from rayobs.testing import assert_serializable
    >>> def task(x):
    ...     return x + 1
    >>> assert_serializable(task)
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this helper's
    report = inspect_serializability(obj, name=name, max_depth=max_depth, max_nodes=max_nodes)
    if not report.serializable:
        raise AssertionError(render_text(report))
