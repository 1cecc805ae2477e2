"""What ``rayobs top`` collects and what it computes from it: frozen data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs


@dataclass(frozen=True)
class Sample:
    """One line of a Prometheus text exposition: a series and its value."""

    name: str
    labels: Labels
    value: float

    def label(self, key: str) -> str:
        for name, value in self.labels:
            if name == key:
                return value
        return ""


@dataclass(frozen=True)
class Scrape:
    """One read of one metrics endpoint; ``error`` says why it gave nothing."""

    source: str
    at: float  # time.monotonic() when the answer arrived
    samples: tuple[Sample, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class FunctionKey:
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
