"""Evaluate a dashboard's panels against Prometheus, the way Grafana would.

This is the compute half of ``rayobs dashboards preview``: template variables
are substituted (All → ``.*``, ``$__rate_interval`` computed like Grafana
does), range queries run for time series and heatmaps, instant queries for
tables. The result is frozen data; ``_plot`` draws it.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rayobs.dashboards._promql import substitute
from rayobs.dashboards._read import DashboardView, PanelView, TargetView


class PrometheusError(Exception):
    """Prometheus was unreachable or refused a query."""


@dataclass(frozen=True)
class Prometheus:
    """The few calls of Prometheus' HTTP API the preview needs."""

    url: str
    timeout: float = 10.0

    def get(self, path: str, **params: str) -> Any:
        """``GET /api/v1/<path>`` and return its ``data``."""
        query = urllib.parse.urlencode(params)
        full = f"{self.url.rstrip('/')}/api/v1/{path}?{query}"
        try:
            with urllib.request.urlopen(full, timeout=self.timeout) as response:
                body = json.loads(response.read().decode())
        except urllib.error.HTTPError as exc:  # 400/422 carry the PromQL error
            try:
                body = json.loads(exc.read().decode() or "{}")
            except ValueError:
                raise PrometheusError(f"{full}: HTTP {exc.code}") from exc
        except (OSError, ValueError) as exc:
            raise PrometheusError(f"cannot query {self.url}: {exc}") from exc
        if body.get("status") != "success":
            raise PrometheusError(str(body.get("error", body)))
        return body["data"]


@dataclass(frozen=True)
class Series:
    """One series of one target: its legend and its points."""

    legend: str
    labels: tuple[tuple[str, str], ...]
    times: tuple[float, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class TargetData:
    target: TargetView
    expr: str  # with the variables substituted
    series: tuple[Series, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class PanelData:
    panel: PanelView
    targets: tuple[TargetData, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not any(t.series for t in self.targets)

    @property
    def errors(self) -> tuple[str, ...]:
        return tuple(t.error for t in self.targets if t.error)


@dataclass(frozen=True)
class Window:
    """The time range and the values Grafana derives from it."""

    start: float
    end: float
    step: float
    scrape_interval: float

    @classmethod
    def last(cls, seconds: float, scrape_interval: float = 15.0, points: int = 240) -> Window:
        """The last ``seconds`` up to now, in about ``points`` steps (at least 1 s each)."""
        end = time.time()
        step = max(1.0, math.ceil(seconds / points))
        return cls(end - seconds, end, step, scrape_interval)

    @property
    def rate_interval(self) -> str:
        """Grafana's ``$__rate_interval``: max(interval + scrape interval, 4 * scrape interval)."""
        return f"{int(max(self.step + self.scrape_interval, 4 * self.scrape_interval))}s"

    def builtins(self) -> dict[str, str]:
        return {
            "__rate_interval": self.rate_interval,
            "__interval": f"{int(self.step)}s",
            "__range": f"{int(self.end - self.start)}s",
        }


def variable_values(view: DashboardView, chosen: Mapping[str, str]) -> dict[str, str]:
    """Each variable's value: the chosen one, else its All value (``.*``)."""
    values = {v.name: v.all_value or ".*" for v in view.variables if v.type == "query"}
    values.update(chosen)
    return values


def legend(fmt: str, labels: Mapping[str, str]) -> str:
    """Grafana's legend format: ``{{label}}`` replaced by the label's value.

    >>> legend("p95 {{name}}", {"name": "divide"})
    'p95 divide'
    """
    if not fmt or fmt == "__auto":
        return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "value"
    out = fmt
    for key, value in labels.items():
        out = out.replace("{{" + key + "}}", value).replace("{{ " + key + " }}", value)
    return out


def evaluate(
    view: DashboardView,
    prometheus: Prometheus,
    window: Window,
    chosen: Mapping[str, str] | None = None,
) -> tuple[PanelData, ...]:
    """Every panel's data over ``window`` (rows give an empty ``PanelData``)."""
    values = {**variable_values(view, chosen or {}), **window.builtins()}
    out = []
    for panel in view.panels:
        out.append(
            PanelData(panel, tuple(_target(t, prometheus, window, values) for t in panel.targets))
        )
    return tuple(out)


def _target(
    target: TargetView, prometheus: Prometheus, window: Window, values: Mapping[str, str]
) -> TargetData:
    expr = substitute(target.expr, values)
    try:
        if target.instant:
            data = prometheus.get("query", query=expr, time=f"{window.end:.3f}")
            series = tuple(_instant(r, target.legend) for r in data["result"])
        else:
            data = prometheus.get(
                "query_range",
                query=expr,
                start=f"{window.start:.3f}",
                end=f"{window.end:.3f}",
                step=f"{window.step:g}",
            )
            series = tuple(_range(r, target.legend) for r in data["result"])
    except PrometheusError as exc:
        return TargetData(target, expr, error=str(exc))
    return TargetData(target, expr, series)


def _labels(result: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (result.get("metric") or {}).items()}


def _instant(result: Mapping[str, Any], fmt: str) -> Series:
    labels = _labels(result)
    ts, value = result["value"]
    return Series(legend(fmt, labels), tuple(sorted(labels.items())), (float(ts),), (float(value),))


def _range(result: Mapping[str, Any], fmt: str) -> Series:
    labels = _labels(result)
    points = result.get("values") or []
    return Series(
        legend(fmt, labels),
        tuple(sorted(labels.items())),
        tuple(float(t) for t, _ in points),
        tuple(float(v) for _, v in points),
    )
