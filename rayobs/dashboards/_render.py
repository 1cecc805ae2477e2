"""Render a ``Dashboard`` to Grafana JSON with the grafana-foundation-sdk.

Every panel, target and variable points at the ``${datasource}`` template
variable, never at a fixed datasource uid or an ``__inputs`` placeholder such as
``${DS_PROMETHEUS}``: the same file then works when imported through the UI or
the HTTP API and when loaded by file or sidecar provisioning (where such
placeholders are never filled in and panels fail with "Datasource ... was not
found").

Importing this module imports the SDK; ``rayobs`` imports it only inside the
commands that render.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.builders import heatmap as heatmap_b
from grafana_foundation_sdk.builders import prometheus as prom_b
from grafana_foundation_sdk.builders import table as table_b
from grafana_foundation_sdk.builders import timeseries as timeseries_b
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dash_m
from grafana_foundation_sdk.models import heatmap as heatmap_m
from grafana_foundation_sdk.models import prometheus as prom_m

from rayobs.dashboards._model import Dashboard, Panel, PanelKind, Placed, Variable, layout

# mypy checks rayobs as Python 3.10, where the SDK's StrEnum and typing.Self (3.11+)
# degrade to str and Any: builders are typed Any here and enum members pass
# through _enum, a no-op that keeps them their real type at run time.
Builder = Any


def _enum(member: object) -> Any:
    return member


DATASOURCE = dash_m.DataSourceRef(type_val="prometheus", uid="${datasource}")
_REF_IDS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def render(dashboard: Dashboard) -> dict[str, Any]:
    """The Grafana JSON model of ``dashboard``, as plain data.

    >>> from rayobs.dashboards._model import Dashboard
    >>> render(Dashboard("rayobs-x", "X", "An example.", (), ()))["uid"]
    'rayobs-x'
    """
    builder = (
        dash_b.Dashboard(dashboard.title)
        .uid(dashboard.uid)
        .description(dashboard.description)
        .tags(list(dashboard.tags))
        .editable()
        .tooltip(_enum(dash_m.DashboardCursorSync.CROSSHAIR))
        .time("now-1h", "now")
        .refresh("30s")
        .timezone("browser")
        .annotations([])
        .with_variable(
            dash_b.DatasourceVariable("datasource")
            .label("Data source")
            .description("The Prometheus that scrapes the Ray nodes.")
            .type("prometheus")
        )
    )
    for variable in dashboard.variables:
        builder = builder.with_variable(_variable(variable))
    for placed in layout(dashboard):
        if placed.row is not None:
            builder = builder.with_row(
                dash_b.Row(placed.row.title).id(placed.id).collapsed(False).grid_pos(_grid(placed))
            )
        elif placed.panel is not None:
            builder = builder.with_panel(_panel(placed.panel, placed))
    data: dict[str, Any] = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    return data


def to_text(data: dict[str, Any]) -> str:
    """Deterministic file text: sorted keys, two-space indent, final newline."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _grid(placed: Placed) -> dash_m.GridPos:
    return dash_m.GridPos(h=placed.h, w=placed.w, x=placed.x, y=placed.y)


def _variable(variable: Variable) -> Builder:
    return (
        dash_b.QueryVariable(variable.name)
        .label(variable.label)
        .description(variable.description)
        .datasource(DATASOURCE)
        .query(variable.query)
        .refresh(_enum(dash_m.VariableRefresh.ON_TIME_RANGE_CHANGED))
        .sort(_enum(dash_m.VariableSort.ALPHABETICAL_ASC))
        .include_all(True)
        .all_value(".*")
        .multi(True)
        .current(dash_m.VariableOption(selected=True, text=["All"], value=["$__all"]))
    )


def _targets(panel: Panel) -> list[Builder]:
    targets = []
    for ref_id, query in zip(_REF_IDS, panel.queries, strict=False):
        target = (
            prom_b.Dataquery()
            .ref_id(ref_id)
            .datasource(DATASOURCE)
            .expr(query.expr)
            .legend_format(query.legend or "__auto")
        )
        if query.instant:
            target = target.instant().format(_enum(prom_m.PromQueryFormat.TABLE))
        elif query.heatmap:
            target = target.range().format(_enum(prom_m.PromQueryFormat.HEATMAP))
        else:
            target = target.range()
        targets.append(target)
    return targets


def _panel(panel: Panel, placed: Placed) -> Builder:
    if panel.kind is PanelKind.TABLE:
        builder = _table(panel)
    elif panel.kind is PanelKind.HEATMAP:
        builder = _heatmap(panel)
    else:
        builder = _timeseries(panel)
    builder = (
        builder.id(placed.id)
        .title(panel.title)
        .description(panel.full_description)
        .datasource(DATASOURCE)
        .grid_pos(_grid(placed))
        .targets(_targets(panel))
    )
    if panel.kind is not PanelKind.HEATMAP:
        builder = builder.unit(panel.unit)
    if panel.min is not None:
        builder = builder.min(panel.min)
    if panel.max is not None:
        builder = builder.max(panel.max)
    return builder


def _timeseries(panel: Panel) -> Builder:
    return (
        timeseries_b.Panel()
        .line_width(1)
        .fill_opacity(10)
        .show_points(_enum(common.VisibilityMode.NEVER))
        .stacking(
            common_b.StackingConfig().mode(
                _enum(common.StackingMode.NORMAL if panel.stack else common.StackingMode.NONE)
            )
        )
        .legend(
            common_b.VizLegendOptions()
            .display_mode(_enum(common.LegendDisplayMode.LIST))
            .placement(_enum(common.LegendPlacement.BOTTOM))
            .show_legend(True)
        )
        .tooltip(
            common_b.VizTooltipOptions()
            .mode(_enum(common.TooltipDisplayMode.MULTI))
            .sort(_enum(common.SortOrder.DESCENDING))
        )
    )


def _table(panel: Panel) -> Builder:
    """One row per series label set: the instant queries merged, a column per query."""
    columns = [q.legend for q in panel.queries]
    rename = {f"Value #{ref}": name for ref, name in zip(_REF_IDS, columns, strict=False)}
    builder = (
        table_b.Panel()
        .show_header(True)
        .cell_height(_enum(common.TableCellHeight.SM))
        .sort_by([common_b.TableSortByFieldState().display_name(columns[0]).desc(True)])
        .with_transformation(dash_m.DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(
            dash_m.DataTransformerConfig(
                id_val="organize",
                options={"excludeByName": {"Time": True}, "renameByName": rename},
            )
        )
    )
    for query in panel.queries:
        if query.unit:
            builder = builder.override_by_name(
                query.legend, [dash_m.DynamicConfigValue(id_val="unit", value=query.unit)]
            )
    return builder


def _heatmap(panel: Panel) -> Builder:
    """Buckets as Prometheus returns them (``calculate`` off), on a log-like y axis of ``le``."""
    return (
        heatmap_b.Panel()
        .calculate(False)
        .y_axis(heatmap_b.YAxisConfig().unit(panel.unit))
        .rows_frame(heatmap_b.RowsHeatmapOptions().layout(_enum(common.HeatmapCellLayout.LE)))
        .color(
            heatmap_b.HeatmapColorOptions()
            .mode(_enum(heatmap_m.HeatmapColorMode.SCHEME))
            .scheme("Oranges")
            .scale(_enum(heatmap_m.HeatmapColorScale.EXPONENTIAL))
            .exponent(0.5)
            .steps(64)
            .fill("dark-orange")
        )
        .cell_values(heatmap_b.CellValues().unit("ops"))
        .show_value(_enum(common.VisibilityMode.NEVER))
        .show_tooltip()
        .show_legend()
    )
