"""An in-memory backend: every sample lands in a dict.

The storage only; ``rayobs.testing.MemoryBackend`` adds the readers a test asks
with, and is what ``RAYOBS_BACKEND=memory`` loads.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rayobs.metrics._spec import Kind, MetricSpec

TagSet = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class HistogramValue:
    """What a histogram holds for one tag set: count, sum and per-bucket counts.

    ``buckets[i]`` counts observations ``<= boundaries[i]`` (not cumulative);
    the last entry is the +Inf bucket.

    >>> h = HistogramValue(count=3, sum=0.7, boundaries=(0.1, 1.0), buckets=(1, 2, 0))
    >>> h.at_most(1.0)
    3
    """

    count: int
    sum: float
    boundaries: tuple[float, ...]
    buckets: tuple[int, ...]

    def at_most(self, bound: float) -> int:
        """Observations ``<= bound`` (Prometheus' ``le`` bucket); ``bound`` is a boundary or inf.

        >>> h = HistogramValue(count=3, sum=0.7, boundaries=(0.1, 1.0), buckets=(1, 2, 0))
        >>> h.at_most(0.1), h.at_most(float("inf"))
        (1, 3)
        """
        if bound == math.inf:
            return self.count
        if bound not in self.boundaries:
            raise ValueError(
                f"{bound!r} is not a bucket boundary; the boundaries are {self.boundaries}"
            )
        return sum(self.buckets[: self.boundaries.index(bound) + 1])


def _merged(spec: MetricSpec, values: Iterable[HistogramValue]) -> HistogramValue:
    count, total, buckets = 0, 0.0, [0] * (len(spec.boundaries) + 1)
    for v in values:
        count += v.count
        total += v.sum
        buckets = [a + b for a, b in zip(buckets, v.buckets, strict=True)]
    return HistogramValue(count, total, spec.boundaries, tuple(buckets))


class _CounterChild:
    __slots__ = ("_lock", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self._lock = threading.Lock()

    def inc(self, value: float = 1.0) -> None:
        if value < 0:
            raise ValueError(f"counters only go up; got inc({value!r})")
        with self._lock:
            self.value += value


class _GaugeChild:
    __slots__ = ("_lock", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self._lock = threading.Lock()

    def set(self, value: float) -> None:
        with self._lock:  # else a concurrent inc could write back the value before it
            self.value = float(value)

    def inc(self, value: float = 1.0) -> None:
        with self._lock:
            self.value += value

    def dec(self, value: float = 1.0) -> None:
        with self._lock:
            self.value -= value


class _HistogramChild:
    __slots__ = ("_lock", "boundaries", "buckets", "count", "sum")

    def __init__(self, boundaries: tuple[float, ...]) -> None:
        self.boundaries = boundaries
        self.buckets = [0] * (len(boundaries) + 1)
        self.count = 0
        self.sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        self.observe_many(value, 1)

    def observe_many(self, value: float, count: int) -> None:
        index = bisect.bisect_left(self.boundaries, value)
        with self._lock:
            self.buckets[index] += count
            self.count += count
            self.sum += value * count

    def snapshot(self) -> HistogramValue:
        with self._lock:
            return HistogramValue(self.count, self.sum, self.boundaries, tuple(self.buckets))


class _Instrument:
    def __init__(self, spec: MetricSpec) -> None:
        self.spec = spec
        self.children: dict[TagSet, object] = {}

    @staticmethod
    def observe_many(child: Any, value: float, count: int) -> None:
        """``count`` observations of ``value`` in one update."""
        many = getattr(child, "observe_many", None)
        if many is not None:
            many(value, count)
        else:  # a folded child (past the cardinality budget)
            for _ in range(count):
                child.observe(value)

    def bind(self, tags: dict[str, str]) -> object:
        key = tuple(sorted(tags.items()))
        child = self.children.get(key)
        if child is None:
            if self.spec.kind is Kind.COUNTER:
                child = _CounterChild()
            elif self.spec.kind is Kind.GAUGE:
                child = _GaugeChild()
            else:
                child = _HistogramChild(self.spec.boundaries)
            self.children[key] = child
        return child


class MemoryStore:
    """Keeps every metric in memory, by name and tag set."""

    name = "memory"

    def __init__(self) -> None:
        self._instruments: dict[str, _Instrument] = {}

    def create(self, spec: MetricSpec) -> _Instrument:
        found = self._instruments.get(spec.name)
        if found is not None and found.spec == spec:  # set as the backend again: keep the data
            return found
        instrument = _Instrument(spec)
        self._instruments[spec.name] = instrument
        return instrument

    def _series(self, name: str) -> dict[TagSet, float | HistogramValue]:
        instrument = self._instruments.get(name)
        if instrument is None:
            return {}
        out: dict[TagSet, float | HistogramValue] = {}
        for key, child in list(instrument.children.items()):
            if isinstance(child, _HistogramChild):
                out[key] = child.snapshot()
            else:
                out[key] = child.value  # type: ignore[attr-defined]
        return out
