"""Probing: does this object pickle with the cloudpickle Ray uses? (The error, if not.)

A probe pickles into a sink that discards the bytes, with one pickler reused
across probes (memo cleared each time): a fresh pickler per probe costs more
than pickling most small objects.

The search probes many overlapping subtrees, so :class:`RememberingProber`
remembers every object a successful probe pickled and, in later probes, pickles
a tiny placeholder in its place. Each part of a graph is then pickled about once
however many of its ancestors are probed, which keeps wide graphs with many
culprits cheap (a class pickled by value is not pickled again with every instance).
"""

from __future__ import annotations

import functools
import io
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


class Prober:
    """Pickles objects as Ray would, returning the exception when pickling fails."""

    def __init__(self, cloudpickle: Any) -> None:
        self._cloudpickle = cloudpickle
        self._pickler = self._make_pickler(cloudpickle)

    def _make_pickler(self, cloudpickle: Any) -> Any:
        return cloudpickle.CloudPickler(_NullSink(), protocol=cloudpickle.DEFAULT_PROTOCOL)

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
        self._pickler = self._make_pickler(self._cloudpickle)


@functools.cache
def _remembering_pickler_class(base: Any) -> type:
    # Built at run time: the base class comes from whichever cloudpickle was loaded.
    class RememberingPickler(base):  # type: ignore[misc]
        known_ok: set[int]
        entered: list[object]

        def __init__(self, file: Any, protocol: int) -> None:
            # The same reducers, in a plain dict: the C pickler looks a type up for
            # every object, and a ChainMap miss costs a Python call and a KeyError.
            self.dispatch_table = dict(base.dispatch_table)
            super().__init__(file, protocol=protocol)

        def reducer_override(self, obj: object) -> Any:
            # Called for every object that is not a builtin container or atom.
            if obj is _PLACEHOLDER_CALL:
                return super().reducer_override(obj)
            if id(obj) in self.known_ok:
                return _PLACEHOLDER
            self.entered.append(obj)
            return super().reducer_override(obj)

    return RememberingPickler


class RememberingProber(Prober):
    """A :class:`Prober` that never pickles twice what once pickled.

    ``known_ok`` holds the ids of every object a successful probe pickled (except
    builtin containers and atoms). Those objects are kept alive for the prober's
    lifetime, so an id is never reused by a different object.
    """

    def __init__(self, cloudpickle: Any) -> None:
        self.known_ok: set[int] = set()
        self._entered: list[object] = []
        self._alive: list[object] = []
        super().__init__(cloudpickle)

    def _make_pickler(self, cloudpickle: Any) -> Any:
        pickler_class = _remembering_pickler_class(cloudpickle.CloudPickler)
        pickler = pickler_class(_NullSink(), protocol=cloudpickle.DEFAULT_PROTOCOL)
        pickler.known_ok = self.known_ok
        pickler.entered = self._entered
        return pickler

    def __call__(self, obj: object) -> Exception | None:
        entered = self._entered
        entered.clear()
        error = super().__call__(obj)
        if error is None:
            self._alive.extend(entered)
            self.known_ok.update(map(id, entered))
        if len(entered) > _RENEW_AFTER:
            self._renew()
        entered.clear()
        return error
