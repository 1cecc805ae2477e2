"""Probing: does this object pickle with the cloudpickle Ray uses? (The error, if not.)

A probe pickles into a sink that discards the bytes, with one pickler reused
across probes (memo cleared each time): a fresh pickler per probe costs more
than pickling most small objects.

The probing pickler is cloudpickle's own, with one change that does not alter
what it does: its reducer table (a ``ChainMap`` of cloudpickle's reducers over
``copyreg``'s) is copied into a plain dict when the pickler is made. The C
pickler looks every object's type up in that table, and a ``ChainMap`` miss is
a Python call raising ``KeyError``: the copy roughly halves the cost.

The search probes many overlapping subtrees, so :class:`RememberingProber`
remembers every object a successful probe pickled and, in later probes, pickles
a tiny placeholder in its place. Each part of a graph is then pickled about once
however many of its ancestors are probed (a class pickled by value is not
pickled again with every instance). Siblings are probed as one run
(``first_failure``): one probe finds the first that fails, and what came before
it is remembered as good.
"""

from __future__ import annotations

import functools
import io
import types
from collections.abc import Sequence
from typing import Any

# What a known-good object is pickled as in later probes: a call to len(()). A
# builtin function pickles by name without a detour through cloudpickle's
# reducer_override, and must itself never be replaced by the placeholder.
_PLACEHOLDER_CALL = len
_PLACEHOLDER = (_PLACEHOLDER_CALL, ((),))
# Objects in one probe above which the next probe gets a fresh pickler.
_RENEW_AFTER = 256


class _NullSink(io.RawIOBase):
    """A file that forgets what is written: probes need the error, not the bytes."""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return len(data)


@functools.cache
def _probing_pickler_class(base: Any) -> type:
    # Built at run time: the base class comes from whichever cloudpickle was loaded.
    class ProbingPickler(base):  # type: ignore[misc]
        def __init__(self, file: Any, protocol: int) -> None:
            # Read by the C pickler in __init__: set before it. A snapshot per
            # pickler, so reducers registered since the last one are included.
            self.dispatch_table = dict(base.dispatch_table)
            super().__init__(file, protocol=protocol)

    return ProbingPickler


# Types whose instances cloudpickle's override decides one by one.
_BY_OBJECT = (type, types.FunctionType)


class _Start:
    """Pickled before each object of a run: where that object's pickling began."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


@functools.cache
def _remembering_pickler_class(base: Any) -> type:
    class RememberingPickler(_probing_pickler_class(base)):  # type: ignore[misc]
        def __init__(
            self,
            file: Any,
            protocol: int,
            known_ok: set[int],
            entered: list[object],
            started: list[tuple[int, int]],
            plain: set[type],
        ) -> None:
            # Called for every object that is not a builtin container or atom:
            # a closure over what it reads (the C pickler looks the override up on
            # the instance in __init__), cheaper per object than a method that
            # reads attributes and calls super(). cloudpickle's own override
            # looks at classes and functions (by value or by reference, object by
            # object) and declines anything else by its type alone: a type it
            # declined once, other than those, is declined here without calling
            # it again (``plain``).
            override = base.reducer_override
            remember = entered.append

            def reducer_override(obj: object) -> Any:
                if obj is _PLACEHOLDER_CALL:  # never remembered: never replaced by itself
                    return override(self, obj)
                if id(obj) in known_ok:
                    return _PLACEHOLDER
                cls = type(obj)
                if cls in plain:
                    remember(obj)
                    return NotImplemented
                if cls is _Start:  # a run's next object starts here
                    started.append((obj.index, len(entered)))  # type: ignore[attr-defined]
                    return _PLACEHOLDER
                remember(obj)
                reduced = override(self, obj)
                if reduced is NotImplemented and not issubclass(cls, _BY_OBJECT):
                    plain.add(cls)
                return reduced

            self.reducer_override = reducer_override
            super().__init__(file, protocol)

    return RememberingPickler


class Prober:
    """Pickles objects as Ray would, returning the exception when pickling fails."""

    def __init__(self, cloudpickle: Any) -> None:
        self._cloudpickle = cloudpickle
        self._pickler = self._make_pickler()

    def _make_pickler(self) -> Any:
        pickler_class = _probing_pickler_class(self._cloudpickle.CloudPickler)
        return pickler_class(_NullSink(), protocol=self._cloudpickle.DEFAULT_PROTOCOL)

    def __call__(self, obj: object) -> Exception | None:
        pickler = self._pickler
        pickler.clear_memo()
        try:
            pickler.dump(obj)
        except Exception as exc:
            return exc
        return None

    def _renew(self) -> None:
        """Start over with a fresh pickler.

        Clearing a memo costs as much as its largest size so far: after a large
        probe, a new pickler is cheaper for the many small probes that follow.
        """
        self._pickler = self._make_pickler()


class Trail:
    """What a failing probe entered, in order: where to look first for its culprit.

    The pickler goes depth first and stops at the failure, so of an object's
    children the one entered last (before pickling stopped) is the one the failure
    was inside, unless it was inside a builtin container (those are never
    entered) pickled after it. ``suspect`` names that child; the search looks into
    it before probing, and a wrong guess only costs a probe.
    """

    __slots__ = ("_alive", "_positions")

    def __init__(self, entered: list[object]) -> None:
        self._alive = list(entered)  # the ids below stay these objects'
        self._positions = {id(obj): i for i, obj in enumerate(self._alive)}

    def suspect(self, objs: Sequence[object]) -> int | None:
        """The index of the object in ``objs`` entered last, if any was entered."""
        positions = self._positions
        best, best_position = None, -1
        for index, obj in enumerate(objs):
            position = positions.get(id(obj), -1)
            if position > best_position:
                best, best_position = index, position
        return best


class RememberingProber(Prober):
    """A :class:`Prober` that never pickles twice what once pickled.

    ``known_ok`` holds the ids of every object a successful probe pickled (except
    builtin containers and atoms). Those objects are kept alive for the prober's
    lifetime, so an id is never reused by a different object.
    """

    def __init__(self, cloudpickle: Any) -> None:
        self.known_ok: set[int] = set()
        # What the last failing probe entered, in order (see ``Trail``).
        self.trail: Trail | None = None
        self._entered: list[object] = []
        self._started: list[tuple[int, int]] = []
        self._plain: set[type] = set()
        self._alive: list[object] = []
        super().__init__(cloudpickle)

    def _make_pickler(self) -> Any:
        pickler_class = _remembering_pickler_class(self._cloudpickle.CloudPickler)
        protocol = self._cloudpickle.DEFAULT_PROTOCOL
        return pickler_class(
            _NullSink(), protocol, self.known_ok, self._entered, self._started, self._plain
        )

    def __call__(self, obj: object) -> Exception | None:
        entered = self._entered
        entered.clear()
        error = super().__call__(obj)
        if error is not None:
            self.trail = Trail(entered)
        self._remember(len(entered) if error is None else 0)
        return error

    def first_failure(self, objs: Sequence[object]) -> tuple[int, Exception] | None:
        """Pickle ``objs`` one after the other in one probe; the first that fails.

        ``(index, error)`` of the first object that does not pickle, or ``None``
        when all do. The pickler finishes an object before it starts the next,
        so everything pickled before the failing object started is good, and
        remembered: a run of siblings costs one probe, not one each.
        """
        entered, started = self._entered, self._started
        entered.clear()
        started.clear()
        run: list[object] = []
        for index, obj in enumerate(objs):
            run += (_Start(index), obj)
        error = super().__call__(run)
        if error is None:
            self._remember(len(entered))
            return None
        self.trail = Trail(entered)
        index, good = started[-1] if started else (0, 0)
        self._remember(good)
        return index, error

    def _remember(self, good: int) -> None:
        """Remember the first ``good`` objects entered in the last probe as pickling."""
        entered = self._entered
        if good:
            self._alive.extend(entered[:good])
            self.known_ok.update(map(id, entered[:good]))
        if len(entered) > _RENEW_AFTER:
            self._renew()
        entered.clear()
        self._started.clear()
