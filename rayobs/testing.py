"""Helpers for testing code instrumented with rayobs.

>>> import rayobs
>>> from rayobs.testing import capture_metrics
>>> REQUESTS = rayobs.Counter("doc_requests", tag_keys=("route",))
>>> with capture_metrics() as metrics:
...     REQUESTS.inc(tags={"route": "/"})
...     REQUESTS.inc(tags={"route": "/"})
>>> metrics.value("doc_requests", route="/")
2.0
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rayobs import _config, _failures, _registry
from rayobs.backends._memory import HistogramValue, MemoryBackend

__all__ = ["HistogramValue", "MemoryBackend", "capture_metrics", "reset"]


@contextmanager
def capture_metrics(*, strict: bool = True) -> Iterator[MemoryBackend]:
    """Record every handle into a fresh in-memory backend for the duration of the block.

    ``strict`` (default on) makes recording failures raise, so a test sees them.
    The previous backend and strictness are restored afterwards.
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
    """Forget declarations, the chosen backend, bound children, failure counts and overrides."""
    _registry.reset()
    _failures.reset()
    _config.clear_overrides()
