"""What ``rayobs top`` collects and what it computes from it: frozen data, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs

_PLAIN_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"')
_LABELS_KEPT = 100_000  # label texts remembered; more and the memory starts over
_labels_of: dict[str, Labels] = {}


def plain_labels(text: str) -> Labels:
    """The sorted labels of ``text`` (``a="1",b="2"``, no escapes in the values).

    Each text is read once: an endpoint writes the same series the same way
    every time, so the next refreshes find it here.

    >>> plain_labels('b="2",a="1"')
    (('a', '1'), ('b', '2'))
    """
    labels = _labels_of.get(text)
    if labels is None:
        if len(_labels_of) >= _LABELS_KEPT:
            _labels_of.clear()
        labels = _labels_of[text] = tuple(sorted(_PLAIN_LABEL.findall(text)))
    return labels


class Sample:
    """One line of a Prometheus text exposition: a series and its value.

    ``series`` is the series as the endpoint wrote it (``name{labels}``), when
    known: a cheaper identity than ``labels`` for finding the same series in
    the next scrape. A sample made from ``text`` reads its labels when they
    are first asked for: most lines of a page are histogram buckets, which
    the first frame does not read.
    """

    __slots__ = ("_labels", "_text", "name", "series", "value")

    def __init__(
        self, name: str, labels: Labels, value: float, series: str = "", *, text: str = ""
    ) -> None:
        """``text``, when given, is the labels as written (no escapes), read on first use."""
        self.name = name
        self.value = value
        self.series = series
        self._labels: Labels | None = None if text else labels
        self._text = text

    @property
    def labels(self) -> Labels:
        if self._labels is None:
            self._labels = plain_labels(self._text)
        return self._labels

    def label(self, key: str) -> str:
        for name, value in self.labels:
            if name == key:
                return value
        return ""

    def _key(self) -> tuple[str, Labels, float]:
        return (self.name, self.labels, self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sample) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Sample(name={self.name!r}, labels={self.labels!r}, value={self.value!r})"


@dataclass(frozen=True)
class Scrape:
    """One read of one metrics endpoint; ``error`` says why it gave nothing."""

    source: str
    at: float  # time.monotonic() when the answer arrived
    samples: tuple[Sample, ...] = ()
    error: str | None = None


class FunctionKey(NamedTuple):
    """A row of the view: the catalog's kind and name, and the app/component tags."""

    kind: str
    name: str
    app: str = ""
    component: str = ""


@dataclass(frozen=True)
class FunctionStats:
    """One function or actor method over the last window."""

    key: FunctionKey
    calls: float  # finished calls in the window
    calls_per_s: float
    errors: float  # calls that raised, in the window
    error_ratio: float | None  # errors / calls; None without calls
    exceptions: tuple[tuple[str, float], ...]  # exception type → count, most first
    p50: float | None  # seconds; None without observations in the window
    p95: float | None
    p99: float | None
    in_flight: float  # running now, summed over workers


@dataclass(frozen=True)
class EndpointStatus:
    source: str
    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class ClusterLine:
    """The cluster at a glance, from Ray's own metrics."""

    nodes: int  # endpoints (or Prometheus instances) that answered with Ray's node metrics
    tasks_by_state: tuple[tuple[str, float], ...]
    store_used_bytes: float | None
    store_capacity_bytes: float | None
    worker_deaths: float  # Ray's unexpected worker failures since the view started
    oom_kills: float  # workers Ray's memory monitor killed since the view started


@dataclass(frozen=True)
class TopSnapshot:
    """One frame of ``rayobs top``."""

    window_s: float
    rows: tuple[FunctionStats, ...]
    cluster: ClusterLine
    endpoints: tuple[EndpointStatus, ...]
