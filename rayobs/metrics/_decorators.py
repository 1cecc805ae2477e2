"""``Histogram.time()`` and ``Counter.count_exceptions()``: decorators and context managers.

Each is both, on the one call-shape engine (sync, ``async def`` and generator
functions keep their kind), and every use gets its own start time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Protocol, TypeVar

from rayobs import _callshape, _outcome

F = TypeVar("F", bound=Callable[..., Any])
Tags = Mapping[str, Any]


class Histogram(Protocol):
    def observe(self, value: float, tags: Tags | None = None) -> None: ...


class Counter(Protocol):
    def inc(self, value: float = 1.0, tags: Tags | None = None) -> None: ...


class _Timer:
    """Context manager and decorator; every use gets its own start time."""

    __slots__ = ("_histogram", "_starts", "_tags")

    def __init__(self, histogram: Histogram, tags: Tags | None) -> None:
        self._histogram = histogram
        self._tags = tags
        self._starts: list[float] = []

    def __enter__(self) -> _Timer:
        self._starts.append(time.perf_counter())
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._histogram.observe(time.perf_counter() - self._starts.pop(), self._tags)

    def __call__(self, fn: F) -> F:
        histogram, tags = self._histogram, self._tags

        def finish(start: float, exc: BaseException | None) -> None:
            histogram.observe(time.perf_counter() - start, tags)

        return _callshape.wrap(fn, _now, finish)


class _ExceptionCounter:
    """Context manager and decorator counting exceptions of the given types."""

    __slots__ = ("_counter", "_exception", "_tags")

    def __init__(
        self,
        counter: Counter,
        exception: type[BaseException] | tuple[type[BaseException], ...],
        tags: Tags | None,
    ) -> None:
        self._counter = counter
        self._exception = exception
        self._tags = tags

    def __enter__(self) -> _ExceptionCounter:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if ev is not None and isinstance(ev, self._exception) and not _outcome.is_intended_exit(ev):
            self._counter.inc(1, self._tags)

    def __call__(self, fn: F) -> F:
        counter, exception, tags = self._counter, self._exception, self._tags

        def finish(_: None, exc: BaseException | None) -> None:
            if (
                exc is not None
                and isinstance(exc, exception)
                and not _outcome.is_intended_exit(exc)
            ):
                counter.inc(1, tags)

        return _callshape.wrap(fn, _noop, finish)


def _noop(kwargs: dict[str, Any]) -> None:
    return None


def _now(kwargs: dict[str, Any]) -> float:
    return time.perf_counter()
