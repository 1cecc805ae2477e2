"""What a dashboard shows, as frozen data: no Grafana SDK, no JSON.

The shipped dashboards and the ones built from a user's module are described
with these types; ``_render`` turns them into Grafana JSON through the
grafana-foundation-sdk. Layout (ids and grid positions) is computed here, from
the order of rows and panels alone, so the exported files are deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

GRID_WIDTH = 24  # Grafana's grid is 24 columns wide


class PanelKind(str, Enum):
    """The Grafana visualization a panel uses (its ``type`` in the JSON)."""

    TIMESERIES = "timeseries"
    TABLE = "table"
    HEATMAP = "heatmap"


@dataclass(frozen=True)
class Query:
    """One PromQL target of a panel.

    ``instant`` queries return one value per series (tables: ``legend`` names the
    column, ``unit`` overrides the panel's for it); ``heatmap`` ones return
    per-bucket rates that Grafana draws as a heatmap (``format: heatmap``).
    """

    expr: str
    legend: str = ""
    instant: bool = False
    heatmap: bool = False
    unit: str = ""


@dataclass(frozen=True)
class Panel:
    """A panel: what it shows (``queries``), how (``kind``, ``unit``) and why (``description``).

    ``quiet`` says when the panel legitimately shows nothing (e.g. no worker was
    OOM-killed); it is appended to the description and the PromQL proof test
    accepts an empty result for it.

    >>> Panel("Calls", "Finished calls per second.", (Query("sum(rate(x_total[1m]))"),), "ops")
    Panel(title='Calls', ...)
    """

    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: PanelKind = PanelKind.TIMESERIES
    width: int = 12
    height: int = 8
    quiet: str = ""
    min: float | None = None
    max: float | None = None
    stack: bool = False

    def __repr__(self) -> str:  # short in doctests and error messages
        return f"Panel(title={self.title!r}, ...)"

    @property
    def full_description(self) -> str:
        if not self.quiet:
            return self.description
        return f"{self.description} Stays empty {self.quiet}."


@dataclass(frozen=True)
class Row:
    """A titled group of panels, laid out left to right, wrapping at 24 columns."""

    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Variable:
    """A query template variable: ``label_values(<selector>, <label>)`` with an All option.

    All is the regex ``.*``, which also matches series that lack the label, so a
    dashboard filtering on ``ray_io_cluster`` still works where KubeRay's
    relabelling is absent (a local run).
    """

    name: str
    label: str
    selector: str
    label_name: str
    description: str = ""

    @property
    def query(self) -> str:
        return f"label_values({self.selector}, {self.label_name})"


@dataclass(frozen=True)
class Dashboard:
    """A whole dashboard. ``uid`` is fixed so re-imports update it in place."""

    uid: str
    title: str
    description: str
    variables: tuple[Variable, ...]
    rows: tuple[Row, ...]
    tags: tuple[str, ...] = ("rayobs",)
    file_name: str = ""

    def panels(self) -> tuple[Panel, ...]:
        return tuple(p for row in self.rows for p in row.panels)


@dataclass(frozen=True)
class Placed:
    """A row or panel with its Grafana id and grid position."""

    id: int
    x: int
    y: int
    w: int
    h: int
    row: Row | None = None
    panel: Panel | None = field(default=None)


def layout(dashboard: Dashboard) -> tuple[Placed, ...]:
    """Ids and grid positions for every row and panel, in order.

    Ids count from 1 in reading order, so adding a panel at the end never
    renumbers the others (Grafana links to panels by id).

    >>> p = Panel("a", "b", (), width=12)
    >>> d = Dashboard("u", "t", "", (), (Row("r", (p, p, p)),))
    >>> [(x.id, x.x, x.y) for x in layout(d)]
    [(1, 0, 0), (2, 0, 1), (3, 12, 1), (4, 0, 9)]
    """
    placed: list[Placed] = []
    y = 0
    next_id = 1
    for row in dashboard.rows:
        placed.append(Placed(next_id, 0, y, GRID_WIDTH, 1, row=row))
        next_id += 1
        y += 1
        x = 0
        line_height = 0
        for panel in row.panels:
            if x + panel.width > GRID_WIDTH:
                x, y, line_height = 0, y + line_height, 0
            placed.append(Placed(next_id, x, y, panel.width, panel.height, panel=panel))
            next_id += 1
            x += panel.width
            line_height = max(line_height, panel.height)
        y += line_height
    return tuple(placed)
