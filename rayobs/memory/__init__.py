"""What holds memory in a Ray cluster: object references, store stats, leak hints, diffs.

Collect, analyse, render, each its own module: ``collect_snapshot`` reads a
running cluster (the only part that imports Ray, and only when called) into a
frozen ``MemorySnapshot``; ``analyze``, ``leak_hints`` and ``diff_snapshots``
are pure functions over snapshots; renderers make text or JSON. Snapshots
round-trip through JSON files (``snapshot_to_dict`` / ``load_snapshot``).

>>> from rayobs.memory import MemorySnapshot, StoreStats, analyze, leak_hints
>>> empty = MemorySnapshot("2026-11-23T16:00:00+00:00", "127.0.0.1:6379", "2.60.0",
...                        (), (), StoreStats())
>>> analyze(empty).total.refs, leak_hints(empty)
(0, ())
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rayobs._cluster import ClusterUnavailable, RayInternalsChanged
from rayobs.memory._analysis import GroupBy, MemoryReport, SortBy, Tally, analyze, link_owners
from rayobs.memory._diff import MemoryDiff, diff_snapshots
from rayobs.memory._hints import HintKind, LeakHint, leak_hints
from rayobs.memory._model import (
    MemorySnapshot,
    NodeMemory,
    ObjectRefRecord,
    ReferenceType,
    StoreStats,
)
from rayobs.memory._snapshot_io import SnapshotFileError, load_snapshot, snapshot_to_dict
from rayobs.memory._units import Units, format_bytes

if TYPE_CHECKING:
    from rayobs.memory._collect import collect_snapshot

# The collector is loaded on first use: snapshots, diffs and their rendering need none of it.
_LAZY = {"collect_snapshot": "rayobs.memory._collect"}

__all__ = [
    "ClusterUnavailable",
    "GroupBy",
    "HintKind",
    "LeakHint",
    "MemoryDiff",
    "MemoryReport",
    "MemorySnapshot",
    "NodeMemory",
    "ObjectRefRecord",
    "RayInternalsChanged",
    "ReferenceType",
    "SnapshotFileError",
    "SortBy",
    "StoreStats",
    "Tally",
    "Units",
    "analyze",
    "collect_snapshot",
    "diff_snapshots",
    "format_bytes",
    "leak_hints",
    "link_owners",
    "load_snapshot",
    "snapshot_to_dict",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rayobs.memory' has no attribute {name!r}")
