"""Where frames come from: node endpoints scraped by rayobs, or a Prometheus server.

A source keeps what the next frame needs (the last scrape of each endpoint,
the deaths counted so far, when the view started), so the view only asks it
for ``frame()`` once per interval.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from rayobs.top._compute import compute
from rayobs.top._fetch import DEFAULT_TIMEOUT_S, fetch_all
from rayobs.top._model import ClusterLine, EndpointStatus, Scrape, TopSnapshot
from rayobs.top._promql import PrometheusError, query_prometheus


class Source(Protocol):
    description: str

    def frame(self) -> TopSnapshot: ...


def fetch_timeout(interval_s: float) -> float:
    """Per-endpoint timeout: short, and never longer than about half the interval."""
    return min(DEFAULT_TIMEOUT_S, max(0.2, interval_s / 2))


class EndpointSource:
    """Node metrics endpoints, read by rayobs every refresh."""

    def __init__(self, urls: Sequence[str], timeout: float, description: str = "") -> None:
        self.urls = tuple(urls)
        self.timeout = timeout
        self.description = description or f"{len(self.urls)} endpoint(s)"
        self._previous: dict[str, Scrape] = {}
        self._deaths = 0.0
        self._ooms = 0.0

    def frame(self) -> TopSnapshot:
        current = fetch_all(self.urls, self.timeout)
        snapshot = compute(
            self._previous.values(), current, deaths_before=self._deaths, ooms_before=self._ooms
        )
        self._deaths = snapshot.cluster.worker_deaths
        self._ooms = snapshot.cluster.oom_kills
        for scrape in current:
            if scrape.error is None:  # a failed read keeps the last good one as the baseline
                self._previous[scrape.source] = scrape
        return snapshot


class PrometheusSource:
    """A Prometheus server, asked with PromQL every refresh."""

    def __init__(self, base: str, interval_s: float, timeout: float) -> None:
        self.base = base
        self.interval_s = interval_s
        self.timeout = timeout
        self.description = f"Prometheus {base}"
        self.started = time.monotonic()

    def frame_or_raise(self) -> TopSnapshot:
        since = time.monotonic() - self.started
        return query_prometheus(self.base, self.interval_s, since, self.timeout)

    def frame(self) -> TopSnapshot:
        try:
            return self.frame_or_raise()
        except PrometheusError as exc:
            empty = ClusterLine(0, (), None, None, 0.0, 0.0)
            return TopSnapshot(0.0, (), empty, (EndpointStatus(self.base, False, str(exc)),))
