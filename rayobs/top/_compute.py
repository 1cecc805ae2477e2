"""From two rounds of scrapes to one frame: per-function rates, ratios and quantiles.

Every series is kept apart until its increase is known (one series per
worker: ``WorkerId`` and Ray's other labels), so a restarted worker's counter
that went down reads as a reset, as Prometheus's ``rate()`` reads it; only then
are the series summed per function. A series absent from the earlier scrape of
an endpoint that answered both times is new (a worker's first calls) and
counts from zero.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from rayobs.top._expo import (
    CALLS_TOTAL,
    DURATION_BUCKET,
    ERRORS_TOTAL,
    IN_FLIGHT,
    OOM_KILLS,
    RESOURCES,
    STORE_USED,
    TASKS,
    WORKER_FAILURES,
)
from rayobs.top._math import histogram_quantile, increase
from rayobs.top._model import (
    ClusterLine,
    EndpointStatus,
    FunctionKey,
    FunctionStats,
    Labels,
    Sample,
    Scrape,
    TopSnapshot,
)

QUANTILES = (0.5, 0.95, 0.99)
TOP_EXCEPTIONS = 3


class SortBy(str, Enum):
    """The orders the view offers (largest first)."""

    CALLS = "calls"
    ERRORS = "errors"
    P99 = "p99"
    IN_FLIGHT = "in-flight"


def function_key(sample: Sample) -> FunctionKey:
    return FunctionKey(
        sample.label("kind"), sample.label("name"), sample.label("app"), sample.label("component")
    )


@dataclass(frozen=True)
class _Series:
    """What a frame reads from one series' labels."""

    key: FunctionKey
    outcome: str
    exception: str
    bound: float | None  # a duration bucket's ``le``


_SERIES_KEPT = 100_000  # series remembered between frames; more and the memory starts over
_series_of: dict[str | tuple[str, Labels], _Series] = {}
_keys: dict[FunctionKey, FunctionKey] = {}


def _identity(sample: Sample) -> str | tuple[str, Labels]:
    return sample.series or (sample.name, sample.labels)


class _Earlier:
    """An endpoint's counters in its previous scrape, found as written, else by labels.

    The text an endpoint writes for a series is the same every time, and is
    found without reading labels; a series written differently (its labels in
    another order) is still the same series, as Prometheus identifies it.
    """

    def __init__(self, samples: Sequence[Sample]) -> None:
        self._samples = samples
        self._as_written = {_identity(s): s.value for s in samples if s.name in _COUNTERS}
        self._by_labels: dict[tuple[str, Labels], float] | None = None

    def value(self, sample: Sample) -> float:
        """The counter's earlier value; 0 for a series new since then."""
        value = self._as_written.get(_identity(sample))
        if value is not None:
            return value
        if self._by_labels is None:  # a series new since then, or written differently
            self._by_labels = {
                (s.name, s.labels): s.value for s in self._samples if s.name in _COUNTERS
            }
        return self._by_labels.get((sample.name, sample.labels), 0.0)


def _series(sample: Sample) -> _Series:
    """The labels read once per series: the same series comes back every refresh."""
    identity = _identity(sample)
    series = _series_of.get(identity)
    if series is None:
        if len(_series_of) >= _SERIES_KEPT:
            _series_of.clear()
            _keys.clear()
        key = function_key(sample)
        series = _series_of[identity] = _Series(
            _keys.setdefault(key, key),  # one object per row: found by identity
            sample.label("outcome"),
            sample.label("exception"),
            _bound(sample.label("le")),
        )
    return series


@dataclass
class _Totals:
    calls: float = 0.0
    calls_per_s: float = 0.0
    errors: float = 0.0
    in_flight: float = 0.0
    exceptions: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    bucket_rates: dict[float, float] = field(default_factory=lambda: defaultdict(float))


def compute(
    previous: Iterable[Scrape],
    current: Iterable[Scrape],
    *,
    deaths_before: float = 0.0,
    ooms_before: float = 0.0,
) -> TopSnapshot:
    """One frame from the scrapes of the last two rounds (matched by ``source``).

    ``deaths_before``/``ooms_before`` are the worker deaths and OOM kills of the
    earlier frames, so the cluster line counts them since the view started.
    """
    before = {scrape.source: scrape for scrape in previous if scrape.error is None}
    totals: dict[FunctionKey, _Totals] = defaultdict(_Totals)
    deaths = ooms = 0.0
    windows: list[float] = []
    scrapes = list(current)
    for scrape in scrapes:
        if scrape.error is not None:
            continue
        earlier = before.get(scrape.source)
        elapsed = scrape.at - earlier.at if earlier is not None else 0.0
        then = None
        if earlier is not None and elapsed > 0:
            windows.append(elapsed)
            then = _Earlier(earlier.samples)
        for sample in scrape.samples:  # one pass: a page holds ~10,000 samples
            name = sample.name
            if name == IN_FLIGHT:
                totals[_series(sample).key].in_flight += sample.value
                continue
            if name == CALLS_TOTAL:
                totals[_series(sample).key]  # known, even before its first window
            if then is None or name not in _COUNTERS:
                continue
            grew = increase(then.value(sample), sample.value)
            if name == WORKER_FAILURES:
                deaths += grew
            elif name == OOM_KILLS:
                ooms += grew
            elif name == CALLS_TOTAL:
                if grew:
                    series = _series(sample)
                    row = totals[series.key]
                    row.calls += grew
                    row.calls_per_s += grew / elapsed
                    if series.outcome == "error":
                        row.errors += grew
            elif name == ERRORS_TOTAL:
                if grew:
                    series = _series(sample)
                    totals[series.key].exceptions[series.exception] += grew
            else:  # a bucket, empty ones too (they move quantiles): as sum by (le) (rate(...))
                series = _series(sample)
                if series.bound is not None:
                    totals[series.key].bucket_rates[series.bound] += grew / elapsed
    rows = tuple(_stats(key, row) for key, row in totals.items())
    return TopSnapshot(
        window_s=sum(windows) / len(windows) if windows else 0.0,
        rows=sort_rows(rows, SortBy.CALLS),
        cluster=_cluster(scrapes, deaths_before + deaths, ooms_before + ooms),
        endpoints=tuple(EndpointStatus(s.source, s.error is None, s.error) for s in scrapes),
    )


_COUNTERS = frozenset({CALLS_TOTAL, ERRORS_TOTAL, DURATION_BUCKET, WORKER_FAILURES, OOM_KILLS})


def _bound(le: str) -> float | None:
    try:
        return float(le)  # "+Inf" included
    except ValueError:
        return None


def quantile_or_none(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """``histogram_quantile``, with NaN (no observation, no +Inf bucket) as ``None``."""
    value = histogram_quantile(q, buckets)
    return None if math.isnan(value) else value


def _stats(key: FunctionKey, row: _Totals) -> FunctionStats:
    buckets = sorted(row.bucket_rates.items())
    p50, p95, p99 = (quantile_or_none(q, buckets) for q in QUANTILES)
    exceptions = sorted(
        ((name, count) for name, count in row.exceptions.items() if count > 0),
        key=lambda item: (-item[1], item[0]),
    )
    return FunctionStats(
        key=key,
        calls=row.calls,
        calls_per_s=row.calls_per_s,
        errors=row.errors,
        error_ratio=row.errors / row.calls if row.calls > 0 else None,
        exceptions=tuple(exceptions[:TOP_EXCEPTIONS]),
        p50=p50,
        p95=p95,
        p99=p99,
        in_flight=row.in_flight,
    )


def _cluster(scrapes: Sequence[Scrape], deaths: float, ooms: float) -> ClusterLine:
    states: dict[str, float] = defaultdict(float)
    used = capacity = None
    nodes = 0
    for scrape in scrapes:
        if scrape.error is not None:
            continue
        node = False
        for sample in scrape.samples:
            if sample.name == TASKS:
                states[sample.label("State")] += sample.value
            elif sample.name == STORE_USED:
                used = (used or 0.0) + sample.value
            elif sample.name == RESOURCES:
                node = True
                if sample.label("Name") == "object_store_memory":
                    capacity = (capacity or 0.0) + sample.value
        nodes += node
    return ClusterLine(
        nodes=nodes,
        tasks_by_state=tuple(sorted((s, n) for s, n in states.items() if n > 0)),
        store_used_bytes=used,
        store_capacity_bytes=capacity,
        worker_deaths=deaths,
        oom_kills=ooms,
    )


def _order(by: SortBy, row: FunctionStats) -> tuple[float, ...]:
    if by is SortBy.ERRORS:
        return (row.errors, row.error_ratio or 0.0, row.calls_per_s)
    if by is SortBy.P99:
        return (-1.0 if row.p99 is None else row.p99, row.calls_per_s)
    if by is SortBy.IN_FLIGHT:
        return (row.in_flight, row.calls_per_s)
    return (row.calls_per_s, row.in_flight)


def sort_rows(rows: Iterable[FunctionStats], by: SortBy) -> tuple[FunctionStats, ...]:
    """Largest first; ties by name, so a frame does not reshuffle between refreshes."""
    by_name = sorted(rows, key=lambda r: (r.key.name, r.key.kind, r.key.app, r.key.component))
    return tuple(sorted(by_name, key=lambda row: _order(by, row), reverse=True))


def filter_rows(rows: Iterable[FunctionStats], text: str) -> tuple[FunctionStats, ...]:
    """Rows whose kind, name, app or component contains ``text`` (any case)."""
    needle = text.strip().lower()
    if not needle:
        return tuple(rows)
    return tuple(
        row
        for row in rows
        if any(
            needle in part.lower()
            for part in (row.key.kind, row.key.name, row.key.app, row.key.component)
        )
    )


def select(snapshot: TopSnapshot, by: SortBy, text: str = "") -> TopSnapshot:
    """The same frame, filtered and sorted as the view asks."""
    rows = sort_rows(filter_rows(snapshot.rows, text), by)
    return TopSnapshot(snapshot.window_s, rows, snapshot.cluster, snapshot.endpoints)
