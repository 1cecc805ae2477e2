"""``rayobs top``: what every instrumented function of a cluster is doing right now.

Collect (scrape node endpoints or ask Prometheus) → compute (rates with
counter resets, ``histogram_quantile`` over bucket deltas) → render (table,
JSON, live view). Everything but the collectors is pure.
"""

from __future__ import annotations

from rayobs.top._compute import SortBy, compute, filter_rows, select, sort_rows
from rayobs.top._expo import parse_exposition
from rayobs.top._math import counter_increase, histogram_quantile
from rayobs.top._model import (
    ClusterLine,
    EndpointStatus,
    FunctionKey,
    FunctionStats,
    Sample,
    Scrape,
    TopSnapshot,
)
from rayobs.top._render import snapshot_to_dict, snapshot_to_text

__all__ = [
    "ClusterLine",
    "EndpointStatus",
    "FunctionKey",
    "FunctionStats",
    "Sample",
    "Scrape",
    "SortBy",
    "TopSnapshot",
    "compute",
    "counter_increase",
    "filter_rows",
    "histogram_quantile",
    "parse_exposition",
    "select",
    "snapshot_to_dict",
    "snapshot_to_text",
    "sort_rows",
]
