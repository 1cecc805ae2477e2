"""Read Grafana dashboard JSON back into frozen views: panels, their queries, variables.

The preview and the PromQL proof work from the JSON (what Grafana gets), not
from the Python definitions, so they check exactly what is shipped, and they
work on any dashboard file, including ones ``dashboards build --module`` wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TargetView:
    ref_id: str
    expr: str
    legend: str
    instant: bool
    format: str


@dataclass(frozen=True)
class PanelView:
    id: int
    type: str
    title: str
    description: str
    unit: str
    x: int
    y: int
    w: int
    h: int
    targets: tuple[TargetView, ...]
    overrides: tuple[tuple[str, str], ...] = ()  # (column name, unit) for tables


@dataclass(frozen=True)
class VariableView:
    name: str
    type: str
    query: str
    all_value: str


@dataclass(frozen=True)
class DashboardView:
    uid: str
    title: str
    panels: tuple[PanelView, ...]  # rows included (type "row", no targets)
    variables: tuple[VariableView, ...]

    def queries(self) -> tuple[tuple[PanelView, TargetView], ...]:
        return tuple((p, t) for p in self.panels for t in p.targets)


def read(data: Mapping[str, Any]) -> DashboardView:
    """The panels, targets and variables of a dashboard's JSON model.

    >>> v = read({"uid": "u", "title": "T", "panels": [{"id": 1, "type": "timeseries",
    ...     "title": "p", "gridPos": {"x": 0, "y": 0, "w": 12, "h": 8},
    ...     "targets": [{"refId": "A", "expr": "up"}]}]})
    >>> v.panels[0].targets[0].expr
    'up'
    """
    panels: list[PanelView] = []
    for raw in data.get("panels") or []:
        panels.append(_panel(raw))
        # a collapsed row keeps its panels inside it
        panels.extend(_panel(inner) for inner in raw.get("panels") or [])
    variables = tuple(
        VariableView(
            str(v.get("name", "")),
            str(v.get("type", "")),
            _query_text(v.get("query", "")),
            str(v.get("allValue") or ""),
        )
        for v in (data.get("templating") or {}).get("list") or []
    )
    return DashboardView(
        str(data.get("uid", "")), str(data.get("title", "")), tuple(panels), variables
    )


def _query_text(query: Any) -> str:
    if isinstance(query, Mapping):  # newer Grafana stores {"query": "...", "refId": ...}
        return str(query.get("query", ""))
    return str(query)


def _panel(raw: Mapping[str, Any]) -> PanelView:
    grid = raw.get("gridPos") or {}
    field = raw.get("fieldConfig") or {}
    defaults = field.get("defaults") or {}
    overrides = tuple(
        (str(o["matcher"].get("options", "")), str(prop.get("value", "")))
        for o in field.get("overrides") or []
        if (o.get("matcher") or {}).get("id") == "byName"
        for prop in o.get("properties") or []
        if prop.get("id") == "unit"
    )
    unit = defaults.get("unit") or ((raw.get("options") or {}).get("yAxis") or {}).get("unit")
    return PanelView(
        id=int(raw.get("id") or 0),
        type=str(raw.get("type", "")),
        title=str(raw.get("title", "")),
        description=str(raw.get("description", "")),
        unit=str(unit or "short"),
        x=int(grid.get("x", 0)),
        y=int(grid.get("y", 0)),
        w=int(grid.get("w", 12)),
        h=int(grid.get("h", 8)),
        targets=tuple(
            TargetView(
                str(t.get("refId", "")),
                str(t.get("expr", "")),
                str(t.get("legendFormat", "")),
                bool(t.get("instant", False)) and not t.get("range", False),
                str(t.get("format", "time_series")),
            )
            for t in raw.get("targets") or []
            if t.get("expr")
        ),
        overrides=overrides,
    )
