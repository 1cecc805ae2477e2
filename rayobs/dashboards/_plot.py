"""Draw evaluated panels into one PNG, laid out on the dashboard's own grid.

Uses matplotlib's Agg backend (no display needed). Time series are lines,
heatmaps per-bucket rates over time (cumulative ``le`` buckets turned into
per-bucket values, as Grafana does for ``format: heatmap``), tables text.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rayobs.dashboards._preview import PanelData, Series

GRID_COLUMNS = 24
UNIT_HEIGHT_IN = 0.36  # inches per Grafana grid unit (Grafana: 30 px per unit)
FIGURE_WIDTH_IN = 18.0
MAX_LEGEND = 8  # more series than this: the largest ones get a legend entry

_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def _num(value: float) -> str:
    """Three significant digits without an exponent; K/M/G/T above a thousand.

    >>> _num(1000), _num(0.000123), _num(12.5), _num(2_500_000)
    ('1K', '0.000123', '12.5', '2.5M')
    """
    magnitude = abs(value)
    if magnitude == 0:
        return "0"
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if magnitude >= factor:
            return _num(value / factor) + suffix
    decimals = max(0, 2 - math.floor(math.log10(magnitude)))
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_value(value: float, unit: str) -> str:
    """A value as Grafana would show it for ``unit`` (the common units only).

    >>> format_value(3 * 1024**2, "bytes"), format_value(0.0042, "s")
    ('3 MiB', '4.2 ms')
    >>> format_value(0.25, "percentunit"), format_value(12_000, "ops")
    ('25%', '12K ops/s')
    """
    if math.isnan(value):
        return "NaN"
    if unit == "bytes":
        n, i = abs(value), 0
        while n >= 1024 and i < len(_BINARY) - 1:
            n, i = n / 1024, i + 1
        return f"{_num(math.copysign(n, value))} {_BINARY[i]}"
    if unit == "decmbytes":
        return format_value(value * 1e6, "bytes")
    if unit == "s":
        if value != 0 and abs(value) < 1e-3:
            return f"{_num(value * 1e6)} µs"
        if value != 0 and abs(value) < 1:
            return f"{_num(value * 1e3)} ms"
        return f"{_num(value)} s"
    if unit == "percentunit":
        return f"{_num(value * 100)}%"
    suffix = {"ops": " ops/s", "cps": " /s", "reqps": " req/s", "Bps": " B/s"}.get(unit, "")
    return f"{_num(value)}{suffix}"


def plot(title: str, panels: Sequence[PanelData], out: Path, subtitle: str = "") -> Path:
    """Render ``panels`` into ``out`` (PNG) and return it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bottom = max((p.panel.y + p.panel.h for p in panels), default=1)
    header = 1.6  # grid units for the title
    fig = plt.figure(figsize=(FIGURE_WIDTH_IN, (bottom + header) * UNIT_HEIGHT_IN), dpi=100)
    total = bottom + header
    fig.text(0.01, 1 - 0.55 / total, title, fontsize=15, weight="bold", va="center")
    if subtitle:
        fig.text(0.01, 1 - 1.2 / total, subtitle, fontsize=9, color="#555", va="center")
    for data in panels:
        p = data.panel
        # Grid units to figure fractions, with a margin for titles and tick labels.
        left = p.x / GRID_COLUMNS + 0.045
        width = p.w / GRID_COLUMNS - 0.06
        top = 1 - (p.y + header) / total
        height = p.h / total
        if p.type == "row":
            fig.text(0.01, top - height / 2, p.title, fontsize=12, weight="bold", color="#1f4e79")
            continue
        ax = fig.add_axes((left, top - height + 1.1 / total, width, height - 1.9 / total))
        ax.set_title(p.title, fontsize=10, weight="bold", loc="left")
        _draw(ax, data)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def _draw(ax: Any, data: PanelData) -> None:
    ax.tick_params(labelsize=7)
    if data.errors:
        _message(ax, "query error: " + data.errors[0][:160], "#b00020")
    elif data.empty:
        # The dashboard says when a panel legitimately stays empty: show that too.
        _, _, why = data.panel.description.partition("Stays empty ")
        _message(ax, "No data" + (f"\n(stays empty {why.rstrip('.')})" if why else ""), "#777")
    elif data.panel.type == "table":
        _table(ax, data)
    elif data.panel.type == "heatmap":
        _heatmap(ax, data)
    else:
        _lines(ax, data)


def _message(ax: Any, text: str, color: str) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(
        0.5,
        0.5,
        text,
        ha="center",
        va="center",
        color=color,
        fontsize=10,
        wrap=True,
        transform=ax.transAxes,
    )


def _times(series: Series) -> list[dt.datetime]:
    return [dt.datetime.fromtimestamp(t) for t in series.times]


def _lines(ax: Any, data: PanelData) -> None:
    import matplotlib.dates as mdates
    from matplotlib.ticker import FuncFormatter

    all_series = [s for t in data.targets for s in t.series]
    ranked = sorted(all_series, key=lambda s: _peak(s), reverse=True)
    labelled = {id(s) for s in ranked[:MAX_LEGEND]}
    for series in all_series:
        ax.plot(
            _times(series),
            series.values,
            linewidth=1.3,
            label=series.legend if id(series) in labelled else "_nolegend_",
        )
    unit = data.panel.unit
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_value(v, unit)))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))  # type: ignore[no-untyped-call]
    ax.grid(True, alpha=0.3)
    low, high = ax.get_ylim()
    if max((_peak(s) for s in all_series), default=0.0) <= 0:
        low, high = 0.0, 1.0  # all zero: a flat line at the bottom, not at mid-height
    ax.set_ylim(min(0.0, low), high)
    extra = len(all_series) - len(labelled)
    title = f"+{extra} more" if extra > 0 else None
    ax.legend(fontsize=7, loc="upper left", framealpha=0.7, title=title, title_fontsize=7)


def _peak(series: Series) -> float:
    finite = [v for v in series.values if not math.isnan(v)]
    return max(finite, default=0.0)


def _le(series: Series) -> float:
    value = dict(series.labels).get("le", "+Inf")
    return math.inf if value in ("+Inf", "Inf") else float(value)


def _heatmap(ax: Any, data: PanelData) -> None:
    import numpy as np
    from matplotlib.colors import PowerNorm

    buckets = sorted((s for t in data.targets for s in t.series), key=_le)
    times = sorted({t for s in buckets for t in s.times})
    index = {t: i for i, t in enumerate(times)}
    cumulative = np.zeros((len(buckets), len(times)))
    for row, series in enumerate(buckets):
        for t, v in zip(series.times, series.values, strict=True):
            cumulative[row, index[t]] = 0.0 if math.isnan(v) else v
    # Prometheus buckets count everything <= le; Grafana shows each bucket alone.
    per_bucket = np.diff(cumulative, axis=0, prepend=0.0).clip(min=0.0)
    used = np.nonzero(per_bucket.sum(axis=1) > 0)[0]
    if used.size == 0:
        _message(ax, "No observations in range", "#777")
        return
    lo, hi = int(used.min()), int(used.max())
    grid = per_bucket[lo : hi + 1]
    labels = [
        format_value(_le(s), data.panel.unit) if _le(s) != math.inf else "+Inf"
        for s in buckets[lo : hi + 1]
    ]
    image = ax.imshow(
        grid,
        aspect="auto",
        origin="lower",
        cmap="Oranges",
        norm=PowerNorm(0.5, vmin=0),
        interpolation="nearest",
    )
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels([f"≤ {label}" for label in labels], fontsize=7)
    ticks = np.linspace(0, len(times) - 1, num=min(6, len(times))).astype(int)
    ax.set_xticks(ticks)
    ax.set_xticklabels([dt.datetime.fromtimestamp(times[i]).strftime("%H:%M:%S") for i in ticks])
    bar = ax.figure.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    bar.ax.tick_params(labelsize=7)
    ax.set_title("observations per second per bucket", fontsize=7, loc="right", color="#555")


def _table(ax: Any, data: PanelData) -> None:
    """Merge instant results on their labels: one row per label set, a column per target."""
    units = dict(data.panel.overrides)
    columns = [t.target.legend or t.target.ref_id for t in data.targets]
    rows: dict[tuple[tuple[str, str], ...], dict[str, float]] = {}
    for column, target in zip(columns, data.targets, strict=True):
        for series in target.series:
            rows.setdefault(series.labels, {})[column] = series.values[-1]
    label_keys = sorted({k for key in rows for k, _ in key})
    first = columns[0]
    ordered = sorted(
        rows.items(),
        key=lambda item: -_sortable(item[1].get(first, math.nan)),
    )[:14]
    cells = [
        [dict(key).get(k, "") for k in label_keys]
        + [
            format_value(values[c], units.get(c, data.panel.unit)) if c in values else "-"
            for c in columns
        ]
        for key, values in ordered
    ]
    ax.axis("off")
    header = [*label_keys, *columns]
    # Label columns get more room than numbers; the whole table spans the panel.
    weights = [2.0] * len(label_keys) + [1.0] * len(columns)
    table = ax.table(
        cellText=cells,
        colLabels=header,
        colWidths=[w / sum(weights) for w in weights],
        loc="upper center",
        cellLoc="left",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1, 1.25)
    for (row, _), cell in table.get_celld().items():
        cell.set_edgecolor("#ddd")
        if row == 0:
            cell.set_text_props(weight="bold")
            cell.set_facecolor("#eef3f8")


def _sortable(value: float) -> float:
    return -math.inf if math.isnan(value) else value
