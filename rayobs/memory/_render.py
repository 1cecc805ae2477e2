"""Renderers: memory reports, store stats and diffs as text tables or JSON-ready dicts.

Nothing here decides anything: the analysis, hints and diff are computed
before; this only lays them out. JSON sizes are always bytes.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from typing import Any

from rayobs.memory._analysis import (
    Group,
    GroupBy,
    MemoryReport,
    NodeSummary,
    Tally,
    node_label,
    short_call_site,
)
from rayobs.memory._diff import DiffRow, MemoryDiff, SnapshotInfo
from rayobs.memory._hints import LeakHint
from rayobs.memory._model import MemorySnapshot, NodeMemory, ObjectRefRecord, StoreStats
from rayobs.memory._snapshot_io import KIND, VERSION, header_to_dict, ref_to_dict, store_to_dict
from rayobs.memory._units import Units, format_bytes, format_delta

# How each grouping reads in headings.
LABELS = {
    GroupBy.NODE: "node",
    GroupBy.OWNER: "owner",
    GroupBy.CALLSITE: "call site",
    GroupBy.REFERENCE_TYPE: "reference type",
}
DEAD_NODES_SHOWN = 5  # in text; dead nodes that took references with them are always shown
_NODE_COLUMNS = (
    "NODE",
    "STATE",
    "WORKERS",
    "REFS",
    "OBJECTS",
    "BYTES",
    "OWNED",
    "OWNED BYTES",
    "STORE USED",
    "IN STORE",
    "PRIMARY",
    "CAPACITY",
)
_COLUMNS = ("PID", "HOLDER", "REFERENCE TYPE", "SIZE", "STATUS", "OWNER", "OBJECT ID", "CALL SITE")


def to_json(document: dict[str, Any]) -> str:
    """``document`` as indented JSON, with each element of a ``refs`` list on one line.

    Python's JSON encoder drops to its pure-Python path whenever ``indent`` is
    set, which for 10,000 references costs more than collecting them: records
    are encoded compactly (the C path) and only the frame is indented.
    """
    parts = []
    for key, value in document.items():
        if key == "refs" and isinstance(value, list) and value:
            text = "[\n" + ",\n".join("    " + json.dumps(item) for item in value) + "\n  ]"
        else:
            text = json.dumps(value, indent=2).replace("\n", "\n  ")
        parts.append(f"  {json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(parts) + "\n}" if parts else "{}"


def _tally_dict(counted: Tally) -> dict[str, int]:
    return {
        "refs": counted.refs,
        "objects": counted.objects,
        "bytes": counted.bytes,
        "unknown_sizes": counted.unknown_sizes,
    }


def hint_to_dict(hint: LeakHint) -> dict[str, Any]:
    return {
        "kind": hint.kind.value,
        "summary": hint.summary,
        "advice": hint.advice,
        "bytes": hint.bytes,
        "count": hint.count,
        "details": list(hint.details),
        "object_ids": list(hint.object_ids),
    }


def report_to_dict(report: MemoryReport, hints: Sequence[LeakHint]) -> dict[str, Any]:
    """The JSON shape of ``rayobs memory``: the snapshot, its groups, the hints.

    ``refs`` lists the references group by group in display order; with
    ``--top`` only the first ``top`` of each group (the group tallies count all).
    """
    document = header_to_dict(report.snapshot)
    document.update(
        group_by=report.group_by.value,
        sort_by=report.sort_by.value,
        top=report.top,
        total=_tally_dict(report.total),
        groups=[
            {
                "key": group.key,
                **_tally_dict(group.tally),
                "by_reference_type": {
                    kind.value: count for kind, count in sorted(group.by_reference_type.items())
                },
                "listed": len(group.refs),
            }
            for group in report.groups
        ],
        by_node=[node_summary_to_dict(summary) for summary in report.nodes],
        refs=[ref_to_dict(ref) for group in report.groups for ref in group.refs],
        hints=[hint_to_dict(hint) for hint in hints],
    )
    return document


def node_summary_to_dict(summary: NodeSummary) -> dict[str, Any]:
    node = summary.node
    return {
        "node_id": node.node_id,
        "node_ip": node.node_ip,
        "node_name": node.node_name,
        "state": node.state,
        "death": node.death,
        "died_at": node.died_at,
        "error": node.error,
        "workers": node.workers,
        "held": _tally_dict(summary.held),
        "owned": _tally_dict(summary.owned),
        "lost": _tally_dict(summary.lost),
        "store": None if node.store is None else store_to_dict(node.store),
    }


def stats_to_dict(snapshot: MemorySnapshot) -> dict[str, Any]:
    """The JSON shape of ``--stats-only``: store stats, cluster-wide and per node."""
    return header_to_dict(snapshot)


def _owner(ref: ObjectRefRecord) -> str:
    if ref.owned:
        return "self"
    if ref.owner_pid is not None:
        return f"pid {ref.owner_pid}"
    return "-" if ref.owned is None else "dead"


def _row(ref: ObjectRefRecord, units: Units) -> tuple[str, ...]:
    return (
        str(ref.pid),
        ref.worker_type.lower(),
        ref.reference_type.value,
        format_bytes(ref.size_bytes, units),
        ref.task_status or "-",
        _owner(ref),
        ref.object_id,
        short_call_site(ref.call_site) if ref.call_site else "-",
    )


def _table(rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        indent
        + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _tally_text(counted: Tally, units: Units) -> str:
    unknown = f" (+{counted.unknown_sizes} of unknown size)" if counted.unknown_sizes else ""
    return (
        f"{counted.refs} refs, {counted.objects} objects, "
        f"{format_bytes(counted.bytes, units)}{unknown}"
    )


def _key_text(key: str, by: GroupBy) -> str:
    return short_call_site(key) if by is GroupBy.CALLSITE else key


def _group_text(group: Group, report: MemoryReport, units: Units) -> list[str]:
    kinds = ", ".join(
        f"{count} {kind.value}" for kind, count in sorted(group.by_reference_type.items())
    )
    lines = [
        f"--- {LABELS[report.group_by]} {_key_text(group.key, report.group_by)}: "
        f"{_tally_text(group.tally, units)} ---",
        f"    {kinds}",
    ]
    lines.extend(_table([_COLUMNS, *(_row(ref, units) for ref in group.refs)]))
    hidden = group.tally.refs - len(group.refs)
    if hidden > 0:
        lines.append(f"... and {hidden} more (--top {report.top})")
    return lines


def _store_line(store: StoreStats, units: Units) -> str:
    fraction = store.used_fraction
    full = f" ({100 * fraction:.1f}% full)" if fraction is not None else ""
    parts = [
        f"{format_bytes(store.used_bytes, units)} used of "
        f"{format_bytes(store.capacity_bytes, units)}{full}, {store.num_objects} objects",
        f"primary copies {format_bytes(store.primary_copy_bytes, units)}",
        f"spilled {format_bytes(store.spilled_bytes, units)} ({store.spilled_objects} objects)",
        f"restored {format_bytes(store.restored_bytes, units)} ({store.restored_objects} objects)",
        f"fallback {format_bytes(store.fallback_bytes, units)}",
    ]
    if store.pulls_queued:
        parts.append("fetches queued waiting for memory")
    return "; ".join(parts)


def _death_text(node: NodeMemory) -> str:
    since = f" since {node.died_at}" if node.died_at else ""
    return f"dead{since} ({node.death or 'no reason recorded'})"


def _node_line(node: NodeMemory, units: Units) -> str:
    label = f"node {node_label(node.node_ip, node.node_id)}"
    if not node.alive:
        return f"  {label}: {_death_text(node)}"
    if node.error is not None or node.store is None:
        return f"  {label}: not read: {node.error}"
    cut = (
        f"; reference lists cut short for pids {list(node.truncated_pids)}"
        if (node.truncated_pids)
        else ""
    )
    return f"  {label}: {_store_line(node.store, units)}{cut}"


def stats_to_text(
    snapshot: MemorySnapshot, units: Units = Units.AUTO, per_node: bool = True
) -> str:
    """Store stats for a terminal: the cluster total, then one line per node."""
    lines = [f"Object store: {_store_line(snapshot.store, units)}"]
    if per_node and (len(snapshot.nodes) > 1 or not snapshot.complete):
        lines.extend(_node_line(node, units) for node in snapshot.nodes)
    return "\n".join(lines)


def _node_row(summary: NodeSummary, units: Units) -> tuple[str, ...]:
    node, store = summary.node, summary.node.store
    state = (
        node.state
        if node.alive and node.error is None
        else ("NOT READ" if node.alive else node.state)
    )
    unknown = "-" if not node.reachable else None

    def size(value: int) -> str:
        return unknown or format_bytes(value, units)

    def count(value: int) -> str:
        return unknown or str(value)

    return (
        node_label(node.node_ip, node.node_id),
        state,
        count(node.workers),
        count(summary.held.refs),
        count(summary.held.objects),
        size(summary.held.bytes),
        count(summary.owned.objects),
        size(summary.owned.bytes),
        size(store.used_bytes) if store else "-",
        str(store.num_objects) if store else "-",
        size(store.primary_copy_bytes) if store else "-",
        size(store.capacity_bytes) if store else "-",
    )


def _gone_text(summary: NodeSummary, units: Units) -> str:
    node = summary.node
    label = f"  {node_label(node.node_ip, node.node_id)}"
    if node.alive:
        text = (
            f"{label} could not be read ({node.error}): its references and store are missing "
            "from this report"
        )
    else:
        text = (
            f"{label} {_death_text(node)}: its object store and the references its processes "
            "held are gone"
        )
    lost = summary.lost
    if lost.refs:
        # An unread node may only be slow: its owners may still be alive.
        fate = (
            "lost if the node is gone (ray.get would raise OwnerDiedError)"
            if node.alive
            else "lost, ray.get raises OwnerDiedError"
        )
        text += (
            f"; {lost.refs} reference{'s' if lost.refs != 1 else ''} on other nodes "
            f"({format_bytes(lost.bytes, units)}) point at objects owned there: {fate}"
        )
    return text


def nodes_to_text(summaries: Sequence[NodeSummary], units: Units = Units.AUTO) -> list[str]:
    """The per-node section: a table of every node, then a line on each one dead or unread."""
    alive = [s for s in summaries if s.node.alive]
    dead = [s for s in summaries if not s.node.alive]
    shown_dead = [s for i, s in enumerate(dead) if i < DEAD_NODES_SHOWN or s.lost.refs]
    unread = sum(1 for s in alive if not s.node.reachable)
    counts = [f"{len(alive)} alive" + (f" ({unread} not read)" if unread else "")]
    if dead:
        counts.append(f"{len(dead)} dead")
    lines = [
        f"Nodes: {', '.join(counts)}. REFS, OBJECTS, BYTES: what each node's processes hold; "
        "OWNED: the objects they own"
    ]
    lines.extend(
        _table([_NODE_COLUMNS, *(_node_row(s, units) for s in [*alive, *shown_dead])], "  ")
    )
    gone = [s for s in [*alive, *shown_dead] if not s.node.reachable]
    lines.extend(_gone_text(s, units) for s in gone)
    if len(dead) > len(shown_dead):
        more = len(dead) - len(shown_dead)
        lines.append(f"  ... and {more} more dead node{'s' if more != 1 else ''} (--format json)")
    return lines


def hints_to_text(hints: Sequence[LeakHint]) -> list[str]:
    if not hints:
        return ["Leak hints: none"]
    lines = ["Leak hints:"]
    for hint in hints:
        lines.append(f"  [{hint.kind.value}] {hint.summary}")
        lines.extend(f"      {detail}" for detail in hint.details)
        if hint.object_ids:
            lines.append(f"      e.g. {', '.join(hint.object_ids)}")
        lines.append(
            textwrap.fill(
                hint.advice, width=100, initial_indent="      -> ", subsequent_indent="         "
            )
        )
    return lines


def report_to_text(
    report: MemoryReport, hints: Sequence[LeakHint], units: Units = Units.AUTO
) -> str:
    """A memory report for a terminal: header, groups, store stats, leak hints."""
    snapshot = report.snapshot
    lines = [
        f"Object references of {snapshot.address} at {snapshot.taken_at} "
        f"(Ray {snapshot.ray_version})",
        f"{_tally_text(report.total, units)}; grouped by {LABELS[report.group_by]}, "
        f"sorted by {report.sort_by.value}",
        "",
    ]
    for group in report.groups:
        lines.extend(_group_text(group, report, units))
        lines.append("")
    if not report.groups:
        lines.extend(["No object references are held.", ""])
    several = len(snapshot.nodes) > 1 or not snapshot.complete
    if several:
        lines.extend([*nodes_to_text(report.nodes, units), ""])
    lines.append(stats_to_text(snapshot, units, per_node=not several))
    lines.append("")
    lines.extend(hints_to_text(hints))
    return "\n".join(lines)


def _info_dict(info: SnapshotInfo) -> dict[str, Any]:
    return {
        "taken_at": info.taken_at,
        "address": info.address,
        "total": _tally_dict(info.total),
        "store": store_to_dict(info.store),
    }


def _row_dict(row: DiffRow) -> dict[str, Any]:
    return {
        "key": row.key,
        "delta_bytes": row.delta_bytes,
        "delta_refs": row.delta_refs,
        "before": _tally_dict(row.before),
        "after": _tally_dict(row.after),
    }


def diff_to_dict(diff: MemoryDiff, top: int | None = None) -> dict[str, Any]:
    """The JSON shape of ``rayobs memory diff``; ``top`` keeps that many rows per dimension."""
    return {
        "kind": f"{KIND}.diff",
        "version": VERSION,
        "before": _info_dict(diff.before),
        "after": _info_dict(diff.after),
        "new_objects": diff.new_objects,
        "new_bytes": diff.new_bytes,
        "freed_objects": diff.freed_objects,
        "freed_bytes": diff.freed_bytes,
        "store_used_delta_bytes": diff.after.store.used_bytes - diff.before.store.used_bytes,
        **{
            f"by_{by.value.replace('-', '_')}": [_row_dict(row) for row in rows[:top]]
            for by, rows in diff.rows.items()
        },
    }


def _change(before: int, after: int, text: str) -> str:
    delta = after - before
    return f"{text} ({'+' if delta >= 0 else ''}{delta})"


def diff_to_text(diff: MemoryDiff, units: Units = Units.AUTO, top: int | None = None) -> str:
    """What grew, for a terminal: totals, then changed groups per dimension."""
    old, new = diff.before, diff.after
    store_delta = new.store.used_bytes - old.store.used_bytes
    ref_bytes = new.total.bytes - old.total.bytes
    lines = [
        f"Memory diff: {old.taken_at} ({old.address}) -> {new.taken_at} ({new.address})",
        _change(
            old.total.refs, new.total.refs, f"references: {old.total.refs} -> {new.total.refs}"
        ),
        f"referenced bytes: {format_bytes(old.total.bytes, units)} -> "
        f"{format_bytes(new.total.bytes, units)} ({format_delta(ref_bytes, units)})",
        f"new objects: {diff.new_objects} ({format_bytes(diff.new_bytes, units)}); "
        f"freed objects: {diff.freed_objects} ({format_bytes(diff.freed_bytes, units)})",
        f"store used: {format_bytes(old.store.used_bytes, units)} -> "
        f"{format_bytes(new.store.used_bytes, units)} ({format_delta(store_delta, units)}); "
        f"spilled {format_bytes(old.store.spilled_bytes, units)} -> "
        f"{format_bytes(new.store.spilled_bytes, units)}",
    ]
    for by, rows in diff.rows.items():
        lines.extend(["", f"By {LABELS[by]}:"])
        if not rows:
            lines.append("  no change")
            continue
        shown = rows[:top]
        table = [("BYTES", "REFS", "BEFORE", "AFTER", LABELS[by].upper())]
        table.extend(
            (
                format_delta(row.delta_bytes, units),
                f"{row.delta_refs:+d}",
                format_bytes(row.before.bytes, units),
                format_bytes(row.after.bytes, units),
                _key_text(row.key, by),
            )
            for row in shown
        )
        lines.extend(_table(table, indent="  "))
        if len(rows) > len(shown):
            lines.append(f"  ... and {len(rows) - len(shown)} more (--top {top})")
    return "\n".join(lines)
