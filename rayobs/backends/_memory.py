"""An in-memory backend: every sample lands in a dict. Public through ``rayobs.testing``."""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass

from rayobs._spec import Kind, MetricSpec


@dataclass(frozen=True)
class HistogramValue:
    """What a histogram holds for one tag set: count, sum and per-bucket counts.

    ``buckets[i]`` counts observations ``<= boundaries[i]`` (not cumulative);
    the last entry is the +Inf bucket.
    """

    count: int
    sum: float
    boundaries: tuple[float, ...]
    buckets: tuple[int, ...]


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
        index = bisect.bisect_left(self.boundaries, value)
        with self._lock:
            self.buckets[index] += 1
            self.count += 1
            self.sum += value

    def snapshot(self) -> HistogramValue:
        with self._lock:
            return HistogramValue(self.count, self.sum, self.boundaries, tuple(self.buckets))


class _Instrument:
    def __init__(self, spec: MetricSpec) -> None:
        self.spec = spec
        self.children: dict[tuple[tuple[str, str], ...], object] = {}

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


class MemoryBackend:
    """Keeps every metric in memory; query it with :meth:`value` and :meth:`histogram`.

    >>> from rayobs.testing import capture_metrics
    >>> import rayobs
    >>> jobs = rayobs.Counter("doc_jobs", tag_keys=("queue",))
    >>> with capture_metrics() as metrics:
    ...     jobs.inc(tags={"queue": "fast"})
    >>> metrics.value("doc_jobs", queue="fast")
    1.0
    """

    name = "memory"

    def __init__(self) -> None:
        self._instruments: dict[str, _Instrument] = {}

    def create(self, spec: MetricSpec) -> _Instrument:
        instrument = _Instrument(spec)
        self._instruments[spec.name] = instrument
        return instrument

    def names(self) -> list[str]:
        """Names of the metrics recorded so far."""
        return sorted(self._instruments)

    def series(self, name: str) -> dict[tuple[tuple[str, str], ...], float | HistogramValue]:
        """Every tag set of ``name`` with its value (a float, or a ``HistogramValue``)."""
        instrument = self._instruments.get(name)
        if instrument is None:
            return {}
        out: dict[tuple[tuple[str, str], ...], float | HistogramValue] = {}
        for key, child in instrument.children.items():
            if isinstance(child, _HistogramChild):
                out[key] = child.snapshot()
            else:
                out[key] = child.value  # type: ignore[attr-defined]
        return out

    def value(self, name: str, /, **tags: str) -> float:
        """Value of a counter or gauge for exactly these tags (0.0 if never recorded)."""
        found = self.series(name).get(tuple(sorted(tags.items())), 0.0)
        if isinstance(found, HistogramValue):
            raise TypeError(f"{name!r} is a histogram: use histogram()")
        return found

    def total(self, name: str) -> float:
        """Sum of a counter or gauge over all tag sets."""
        return sum(v for v in self.series(name).values() if isinstance(v, float))

    def histogram(self, name: str, /, **tags: str) -> HistogramValue | None:
        """The histogram recorded under exactly these tags, or ``None``."""
        found = self.series(name).get(tuple(sorted(tags.items())))
        if found is not None and not isinstance(found, HistogramValue):
            raise TypeError(f"{name!r} is not a histogram: use value()")
        return found
