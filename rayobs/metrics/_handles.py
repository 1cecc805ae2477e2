"""Metric handles: ``Counter``, ``Gauge`` and ``Histogram``.

A handle is a frozen spec plus a per-process cache. Define it once at module
level and use it anywhere: driver, remote function, actor, nested task. It
pickles as its spec (default tags and subclass included) and binds to the
process's backend on first use, so nothing unpicklable ever travels.

Recording never raises into user code: a failure is logged once and counted
(``rayobs.recording_failures()``), unless strict mode is on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar

from rayobs.metrics import _failures, _registry
from rayobs.metrics._bound import _BOUND
from rayobs.metrics._decorators import _ExceptionCounter, _Timer
from rayobs.metrics._spec import Kind, MetricSpec, make_spec

F = TypeVar("F", bound=Callable[..., Any])
Tags = Mapping[str, Any]

_UNBOUND: dict[Any, Any] = {}  # shared, never written: an unattached handle's child cache


class _Metric:
    __slots__ = ("__weakref__", "_children", "_default", "_entry", "_spec")
    _kind: ClassVar[Kind]

    def __init__(
        self,
        name: str,
        description: str = "",
        tag_keys: Iterable[str] = (),
        default_tags: Mapping[str, str] | None = None,
        *,
        unit: str = "",
        max_cardinality: int | None = None,
    ) -> None:
        self._setup(
            make_spec(
                self._kind,
                name,
                description,
                tag_keys,
                default_tags,
                unit=unit,
                max_cardinality=max_cardinality,
            )
        )

    def _setup(self, spec: MetricSpec, *, lenient: bool = False) -> None:
        _registry.declare(spec, lenient=lenient)
        self._spec = spec
        self._detach()
        _registry.track(self)

    def _detach(self) -> None:
        """Forget the bound children (backend switch or reset): the next record rebinds."""
        self._entry: _registry.Entry | None = None
        self._default: Any = None
        self._children: dict[Any, Any] = _UNBOUND

    def _bind(self, tags: Tags | None) -> Any:
        entry = self._entry
        if entry is None:
            entry = _registry.entry(self._spec)
            self._entry = entry
            self._children = entry.children
        child = entry.child(tags)
        if tags is None:
            self._default = child
        return child

    def _prepare(self) -> None:
        """Create this metric's instrument on the backend now, ahead of its first record."""
        if self._entry is None:
            entry = _registry.entry(self._spec)
            self._entry = entry
            self._children = entry.children

    def with_tags(self, **tags: Any) -> Any:
        """A view of this metric with ``tags`` fixed, e.g. one per actor.

        The view pickles (as the handle plus its tags) and records exactly like
        passing ``tags=`` on every call.

        >>> import rayobs
        >>> MONEY = rayobs.Gauge("doc_money", tag_keys=("actor_name",))
        >>> north = MONEY.with_tags(actor_name="north")
        >>> north.set(100)
        """
        return _BOUND[type(self)._kind](self, tags)

    @property
    def spec(self) -> MetricSpec:
        """The frozen definition of this metric."""
        return self._spec

    @property
    def name(self) -> str:
        return self._spec.name

    def __reduce__(self) -> tuple[Any, ...]:
        state = getattr(self, "__dict__", None)
        return (_restore, (type(self), self._spec), state or None)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._spec == self._spec

    def __hash__(self) -> int:
        return hash((type(self), self._spec))

    def __repr__(self) -> str:
        tags = f", tag_keys={self._spec.tag_keys!r}" if self._spec.tag_keys else ""
        return f"{type(self).__name__}({self._spec.name!r}{tags})"


def handle_for(spec: MetricSpec) -> Any:
    """The handle (``Counter``, ``Gauge`` or ``Histogram``) declaring ``spec``."""
    handle = _KINDS[spec.kind].__new__(_KINDS[spec.kind])
    handle._setup(spec)
    return handle


def _restore(cls: type[_Metric], spec: MetricSpec) -> _Metric:
    """Rebuild a handle from its spec on unpickling, without re-running ``__init__``."""
    handle = cls.__new__(cls)
    handle._setup(spec, lenient=True)
    return handle


class Counter(_Metric):
    """A count that only goes up. Exported as ``<name>_total`` (``ray_<name>_total`` on Ray).

    >>> import rayobs
    >>> FAILURES = rayobs.Counter("doc_failures", "Failed withdrawals.", tag_keys=("bank",))
    >>> FAILURES.inc(tags={"bank": "north"})
    """

    __slots__ = ()
    _kind = Kind.COUNTER

    def inc(self, value: float = 1.0, tags: Tags | None = None) -> None:
        """Add ``value`` (>= 0) for ``tags`` merged over the default tags."""
        try:
            child = self._default if tags is None else self._children.get(tuple(tags.items()))
            if child is None:
                child = self._bind(tags)
            child.inc(value)
        except Exception as exc:
            _failures.report(self._spec.name, "inc", exc)

    def count_exceptions(
        self,
        exception: type[BaseException] | tuple[type[BaseException], ...] = Exception,
        tags: Tags | None = None,
    ) -> _ExceptionCounter:
        """Count exceptions of type ``exception`` raised in a block or a decorated function.

        The exception still propagates. Works as a decorator on sync, ``async def``
        and generator functions, and as a context manager. Intended exits
        (``ray.actor.exit_actor()``, ``sys.exit()``/``sys.exit(0)``) are never counted,
        whatever ``exception`` is: as for ``rayobs.instrument``, they are not failures.

        >>> import rayobs
        >>> ERRORS = rayobs.Counter("doc_parse_errors")
        >>> @ERRORS.count_exceptions(ValueError)
        ... def parse(text):
        ...     return int(text)
        """
        return _ExceptionCounter(self, exception, tags)


class Gauge(_Metric):
    """A value that goes up and down, per process. Exported as ``<name>``.

    On Ray every worker reports its own series (label ``WorkerId``); sum them in
    PromQL. ``inc``/``dec`` adjust this process's value.
    """

    __slots__ = ()
    _kind = Kind.GAUGE

    def set(self, value: float, tags: Tags | None = None) -> None:
        """Set the value for ``tags``."""
        try:
            child = self._default if tags is None else self._children.get(tuple(tags.items()))
            if child is None:
                child = self._bind(tags)
            child.set(value)
        except Exception as exc:
            _failures.report(self._spec.name, "set", exc)

    def inc(self, value: float = 1.0, tags: Tags | None = None) -> None:
        """Add ``value`` to this process's value for ``tags``."""
        try:
            child = self._default if tags is None else self._children.get(tuple(tags.items()))
            if child is None:
                child = self._bind(tags)
            child.inc(value)
        except Exception as exc:
            _failures.report(self._spec.name, "inc", exc)

    def dec(self, value: float = 1.0, tags: Tags | None = None) -> None:
        """Subtract ``value`` from this process's value for ``tags``."""
        try:
            child = self._default if tags is None else self._children.get(tuple(tags.items()))
            if child is None:
                child = self._bind(tags)
            child.dec(value)
        except Exception as exc:
            _failures.report(self._spec.name, "dec", exc)


class Histogram(_Metric):
    """A distribution over fixed buckets. Exported as ``<name>_bucket/_sum/_count``.

    >>> import rayobs
    >>> LATENCY = rayobs.Histogram(
    ...     "doc_fetch_seconds", "Fetch time.", boundaries=(0.01, 0.1, 1, 10), unit="seconds"
    ... )
    >>> with LATENCY.time():
    ...     pass
    """

    __slots__ = ()
    _kind = Kind.HISTOGRAM

    def __init__(
        self,
        name: str,
        description: str = "",
        boundaries: Iterable[float] | None = None,
        tag_keys: Iterable[str] = (),
        default_tags: Mapping[str, str] | None = None,
        *,
        unit: str = "",
        max_cardinality: int | None = None,
    ) -> None:
        self._setup(
            make_spec(
                Kind.HISTOGRAM,
                name,
                description,
                tag_keys,
                default_tags,
                unit=unit,
                boundaries=boundaries,
                max_cardinality=max_cardinality,
            )
        )

    def observe(self, value: float, tags: Tags | None = None) -> None:
        """Record one observation for ``tags``."""
        try:
            child = self._default if tags is None else self._children.get(tuple(tags.items()))
            if child is None:
                child = self._bind(tags)
            child.observe(value)
        except Exception as exc:
            _failures.report(self._spec.name, "observe", exc)

    def _observe_many(self, value: float, count: int, tags: Tags | None) -> None:
        """Record ``value`` ``count`` times: one update where the backend has one
        (the call records push a bucket's mean once per call it counted)."""
        try:
            child = self._default if tags is None else self._children.get(tuple(tags.items()))
            if child is None:
                child = self._bind(tags)
            entry = self._entry
            many = getattr(entry.instrument, "observe_many", None) if entry else None
            if many is not None:
                many(child, value, count)
            else:
                for _ in range(count):
                    child.observe(value)
        except Exception as exc:
            _failures.report(self._spec.name, "observe", exc)

    def time(self, tags: Tags | None = None) -> _Timer:
        """Observe the duration, in seconds, of a block or of each call of a function.

        A decorated ``async def`` stays a coroutine function and its await is timed;
        a decorated generator is timed over its whole iteration. Every use is timed,
        however it ends: returned, raised, or exited.
        """
        return _Timer(self, tags)


_KINDS: dict[Kind, type[_Metric]] = {
    Kind.COUNTER: Counter,
    Kind.GAUGE: Gauge,
    Kind.HISTOGRAM: Histogram,
}
