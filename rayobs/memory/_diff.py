"""What grew between two snapshots: bytes and references by call site, type and owner.

Pure: two ``MemorySnapshot`` values in, a frozen ``MemoryDiff`` out. Rows
whose tallies did not change are left out; the rest are ordered by bytes
gained, then references gained, so what grew comes first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rayobs.memory._analysis import GroupBy, Tally, group_key, tally
from rayobs.memory._model import MemorySnapshot, ObjectRefRecord, StoreStats

# The dimensions a diff is broken down by, in the order they are shown.
DIMENSIONS = (GroupBy.CALLSITE, GroupBy.REFERENCE_TYPE, GroupBy.OWNER)


@dataclass(frozen=True)
class DiffRow:
    """One group's tallies before and after."""

    key: str
    before: Tally
    after: Tally

    @property
    def delta_bytes(self) -> int:
        return self.after.bytes - self.before.bytes

    @property
    def delta_refs(self) -> int:
        return self.after.refs - self.before.refs


@dataclass(frozen=True)
class SnapshotInfo:
    """Which snapshot a side of the diff is."""

    taken_at: str
    address: str
    total: Tally
    store: StoreStats


@dataclass(frozen=True)
class MemoryDiff:
    """Changes from ``before`` to ``after``.

    ``new_*`` count objects present only in ``after``, ``freed_*`` those
    present only in ``before`` (by object id). ``rows`` maps each dimension to
    its changed groups, most grown first.
    """

    before: SnapshotInfo
    after: SnapshotInfo
    new_objects: int
    new_bytes: int
    freed_objects: int
    freed_bytes: int
    rows: dict[GroupBy, tuple[DiffRow, ...]]


def _sizes(refs: Iterable[ObjectRefRecord]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for ref in refs:
        size = ref.size_bytes if ref.size_bytes is not None and ref.size_bytes > 0 else 0
        sizes[ref.object_id] = max(size, sizes.get(ref.object_id, 0))
    return sizes


def _rows(before: MemorySnapshot, after: MemorySnapshot, by: GroupBy) -> tuple[DiffRow, ...]:
    sides: tuple[dict[str, list[ObjectRefRecord]], dict[str, list[ObjectRefRecord]]] = ({}, {})
    for side, snapshot in zip(sides, (before, after), strict=True):
        for ref in snapshot.refs:
            side.setdefault(group_key(ref, by), []).append(ref)
    rows = [
        DiffRow(key, tally(sides[0].get(key, ())), tally(sides[1].get(key, ())))
        for key in {*sides[0], *sides[1]}
    ]
    changed = [row for row in rows if row.before != row.after]
    changed.sort(key=lambda row: (-row.delta_bytes, -row.delta_refs, row.key))
    return tuple(changed)


def _info(snapshot: MemorySnapshot) -> SnapshotInfo:
    return SnapshotInfo(snapshot.taken_at, snapshot.address, tally(snapshot.refs), snapshot.store)


def diff_snapshots(before: MemorySnapshot, after: MemorySnapshot) -> MemoryDiff:
    """Compare two snapshots.

    >>> from rayobs.memory._model import StoreStats
    >>> empty = MemorySnapshot("2026-01-01T00:00:00+00:00", "127.0.0.1:6379", "2.60.0",
    ...                        (), (), StoreStats())
    >>> diff_snapshots(empty, empty).new_objects
    0
    """
    old, new = _sizes(before.refs), _sizes(after.refs)
    added = new.keys() - old.keys()
    freed = old.keys() - new.keys()
    return MemoryDiff(
        before=_info(before),
        after=_info(after),
        new_objects=len(added),
        new_bytes=sum(new[key] for key in added),
        freed_objects=len(freed),
        freed_bytes=sum(old[key] for key in freed),
        rows={by: _rows(before, after, by) for by in DIMENSIONS},
    )
