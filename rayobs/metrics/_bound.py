"""Views of a handle with fixed tags (``handle.with_tags(...)``)."""

from __future__ import annotations

from typing import Any

from rayobs.metrics._decorators import _ExceptionCounter, _Timer
from rayobs.metrics._spec import Kind


class _Bound:
    """A handle with fixed tags (see ``with_tags``)."""

    __slots__ = ("_handle", "_tags")

    def __init__(self, handle: Any, tags: dict[str, Any]) -> None:
        self._handle = handle
        self._tags = tags

    @property
    def tags(self) -> dict[str, Any]:
        return dict(self._tags)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._handle, self._tags))

    def __repr__(self) -> str:
        return f"{self._handle!r}.with_tags({self._tags!r})"


class BoundCounter(_Bound):
    __slots__ = ()

    def inc(self, value: float = 1.0) -> None:
        self._handle.inc(value, self._tags)

    def count_exceptions(
        self, exception: type[BaseException] | tuple[type[BaseException], ...] = Exception
    ) -> _ExceptionCounter:
        return _ExceptionCounter(self._handle, exception, self._tags)


class BoundGauge(_Bound):
    __slots__ = ()

    def set(self, value: float) -> None:
        self._handle.set(value, self._tags)

    def inc(self, value: float = 1.0) -> None:
        self._handle.inc(value, self._tags)

    def dec(self, value: float = 1.0) -> None:
        self._handle.dec(value, self._tags)


class BoundHistogram(_Bound):
    __slots__ = ()

    def observe(self, value: float) -> None:
        self._handle.observe(value, self._tags)

    def time(self) -> _Timer:
        return _Timer(self._handle, self._tags)


_BOUND: dict[Kind, type[_Bound]] = {
    Kind.COUNTER: BoundCounter,
    Kind.GAUGE: BoundGauge,
    Kind.HISTOGRAM: BoundHistogram,
}
