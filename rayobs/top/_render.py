"""A frame as JSON-ready data or as a plain-text table (the ``--once`` outputs)."""

from __future__ import annotations

from typing import Any

from rayobs.top._model import ClusterLine, FunctionStats, TopSnapshot

COLUMNS = (
    "KIND",
    "NAME",
    "APP",
    "COMPONENT",
    "CALLS/S",
    "ERR%",
    "P50",
    "P95",
    "P99",
    "IN-FLT",
    "TOP EXCEPTIONS",
)


def seconds(value: float | None) -> str:
    """``0.0123`` → ``12.3ms``; ``None`` → ``-``."""
    if value is None:
        return "-"
    if value < 1e-3:
        return f"{value * 1e6:.0f}µs"
    if value < 1:
        return f"{value * 1e3:.3g}ms"
    return f"{value:.3g}s"


def _bytes(value: float | None) -> str:
    if value is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}TiB"  # pragma: no cover - the loop always returns


def _number(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:.2f}"


def row_cells(row: FunctionStats) -> tuple[str, ...]:
    """The table's cells for one row, in ``COLUMNS`` order."""
    ratio = "-" if row.error_ratio is None else f"{row.error_ratio * 100:.1f}"
    exceptions = ", ".join(f"{name} {_number(count)}" for name, count in row.exceptions)
    return (
        row.key.kind,
        row.key.name,
        row.key.app or "-",
        row.key.component or "-",
        f"{row.calls_per_s:.2f}",
        ratio,
        seconds(row.p50),
        seconds(row.p95),
        seconds(row.p99),
        _number(row.in_flight),
        exceptions or "-",
    )


def cluster_text(cluster: ClusterLine, window_s: float) -> str:
    """One line: nodes, tasks by state, object store, deaths and OOM kills since start."""
    tasks = " ".join(f"{state}={_number(n)}" for state, n in cluster.tasks_by_state) or "none"
    store = f"{_bytes(cluster.store_used_bytes)}/{_bytes(cluster.store_capacity_bytes)}"
    return (
        f"nodes {cluster.nodes} | tasks {tasks} | object store {store} | "
        f"worker deaths {_number(cluster.worker_deaths)} | OOM kills {_number(cluster.oom_kills)}"
        f" | window {window_s:.1f}s"
    )


def endpoint_problems(snapshot: TopSnapshot) -> list[str]:
    return [f"{e.source}: {e.error}" for e in snapshot.endpoints if not e.ok]


def snapshot_to_text(snapshot: TopSnapshot) -> str:
    """The frame as an aligned plain-text table, cluster line first."""
    lines = [cluster_text(snapshot.cluster, snapshot.window_s)]
    lines.extend(f"no answer: {problem}" for problem in endpoint_problems(snapshot))
    table = [COLUMNS, *(row_cells(row) for row in snapshot.rows)]
    widths = [max(len(cells[i]) for cells in table) for i in range(len(COLUMNS) - 1)]
    for cells in table:
        head = "  ".join(cell.ljust(width) for cell, width in zip(cells[:-1], widths, strict=True))
        lines.append(f"{head}  {cells[-1]}".rstrip())
    if not snapshot.rows:
        lines.append("(no instrumented calls seen)")
    return "\n".join(lines)


def _row_dict(row: FunctionStats) -> dict[str, Any]:
    return {
        "kind": row.key.kind,
        "name": row.key.name,
        "app": row.key.app,
        "component": row.key.component,
        "calls": row.calls,
        "calls_per_s": row.calls_per_s,
        "errors": row.errors,
        "error_ratio": row.error_ratio,
        "exceptions": [{"type": name, "count": count} for name, count in row.exceptions],
        "p50_s": row.p50,
        "p95_s": row.p95,
        "p99_s": row.p99,
        "in_flight": row.in_flight,
    }


def snapshot_to_dict(snapshot: TopSnapshot) -> dict[str, Any]:
    """JSON-ready: ``window_s``, ``cluster``, ``endpoints``, ``functions`` (view order)."""
    cluster = snapshot.cluster
    return {
        "window_s": snapshot.window_s,
        "cluster": {
            "nodes": cluster.nodes,
            "tasks_by_state": dict(cluster.tasks_by_state),
            "object_store_used_bytes": cluster.store_used_bytes,
            "object_store_capacity_bytes": cluster.store_capacity_bytes,
            "worker_deaths": cluster.worker_deaths,
            "oom_kills": cluster.oom_kills,
        },
        "endpoints": [
            {"source": e.source, "ok": e.ok, "error": e.error} for e in snapshot.endpoints
        ],
        "functions": [_row_dict(row) for row in snapshot.rows],
    }
