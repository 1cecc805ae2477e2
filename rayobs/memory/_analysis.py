"""Grouping, sorting and owner lookup over snapshot records. Pure: no Ray, no I/O.

Bytes are counted once per distinct object within a group: an object held by a
driver and borrowed by two actors is three references but one object. (``ray
memory`` adds the size of every reference, so its per-group totals count such
an object three times.)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from enum import Enum

from rayobs.memory._model import MemorySnapshot, NodeMemory, ObjectRefRecord, ReferenceType

NO_LIVE_OWNER = "(no live owner)"
OWNER_NOT_REPORTED = "(owner not reported)"
NO_CALL_SITE = "(call site not recorded)"


class GroupBy(str, Enum):
    """How ``rayobs memory`` groups references (``--group-by``)."""

    NODE = "node"
    OWNER = "owner"
    CALLSITE = "callsite"
    REFERENCE_TYPE = "reference-type"


class SortBy(str, Enum):
    """How groups and the references inside them are ordered (``--sort-by``).

    ``size``: most bytes first. ``count``: most references first (inside a
    group: the highest reference count first). ``pid``: by holding process.
    """

    SIZE = "size"
    COUNT = "count"
    PID = "pid"


@dataclass(frozen=True)
class Tally:
    """References, distinct objects and bytes of a set of records."""

    refs: int = 0
    objects: int = 0
    bytes: int = 0
    unknown_sizes: int = 0


@dataclass(frozen=True)
class Group:
    """One group of references, its tallies and its records in display order.

    ``refs`` holds at most ``--top`` records; ``tally`` always counts them all.
    """

    key: str
    tally: Tally
    by_reference_type: dict[ReferenceType, int]
    refs: tuple[ObjectRefRecord, ...]


@dataclass(frozen=True)
class NodeSummary:
    """One node's share of a snapshot.

    ``held``: the references its processes hold. ``owned``: the objects its
    processes own (their primary copies are normally in its store). ``lost``:
    references held on other nodes to objects whose owner was on this node
    and is gone; ``ray.get`` on them raises ``OwnerDiedError``. For an alive
    node that could not be read, those whose owner was not seen: lost if the
    node is gone.
    """

    node: NodeMemory
    held: Tally
    owned: Tally
    lost: Tally


@dataclass(frozen=True)
class MemoryReport:
    """A snapshot arranged for display: groups in order, totals, the options used."""

    snapshot: MemorySnapshot
    group_by: GroupBy
    sort_by: SortBy
    top: int | None
    groups: tuple[Group, ...]
    total: Tally
    nodes: tuple[NodeSummary, ...] = ()


def link_owners(refs: Sequence[ObjectRefRecord]) -> tuple[ObjectRefRecord, ...]:
    """Fill in the owner of borrowed references from the records of their owners.

    Ray reports a task status only to an object's owner, so the owner of an
    object is the process that reports it as owned. A borrowed reference whose
    object no process owns keeps ``owner_pid=None``: its owner died.
    """
    owners: dict[str, tuple[int, str, str]] = {
        r.object_id: (r.pid, r.node_ip, r.node_id) for r in refs if r.owned is True
    }
    linked: list[ObjectRefRecord] = []
    for ref in refs:
        owner = owners.get(ref.object_id) if ref.owned is False else None
        if owner is not None:
            ref = replace(ref, owner_pid=owner[0], owner_node_ip=owner[1], owner_node_id=owner[2])
        linked.append(ref)
    return tuple(linked)


_RAY_FRAME = re.compile(r"[/\\](?:site|dist)-packages[/\\]ray[/\\]")


def short_call_site(site: str) -> str:
    """A call site as Ray records it, without the frames inside Ray itself.

    Ray records the kind of call and the stack, innermost frame first; its own
    wrappers say nothing about the caller. For text output only: JSON keeps
    the call site as Ray recorded it.

    >>> short_call_site("(put object)  | /v/site-packages/ray/worker.py:put:9 | job.py:f:3")
    '(put object) | job.py:f:3'
    """
    parts = [part.strip() for part in site.split(" | ")]
    kept = [part for part in parts if not _RAY_FRAME.search(part)]
    return " | ".join(kept) if kept else site


def owner_key(ref: ObjectRefRecord) -> str:
    if ref.owner_pid is not None:
        return f"pid {ref.owner_pid} on {ref.owner_node_ip}"
    return OWNER_NOT_REPORTED if ref.owned is None else NO_LIVE_OWNER


def node_label(node_ip: str, node_id: str) -> str:
    """How a node is named in groups and tables: several nodes may share an IP.

    >>> node_label("127.0.0.1", "3f2a9c1d" + "0" * 48)
    '127.0.0.1 (3f2a9c1d)'
    """
    return f"{node_ip} ({node_id[:8]})"


_KEYS: dict[GroupBy, Callable[[ObjectRefRecord], str]] = {
    GroupBy.NODE: lambda ref: node_label(ref.node_ip, ref.node_id),
    GroupBy.OWNER: owner_key,
    GroupBy.CALLSITE: lambda ref: ref.call_site or NO_CALL_SITE,
    GroupBy.REFERENCE_TYPE: lambda ref: ref.reference_type.value,
}


def group_key(ref: ObjectRefRecord, group_by: GroupBy) -> str:
    """The group a reference falls in."""
    return _KEYS[group_by](ref)


def tally(refs: Iterable[ObjectRefRecord]) -> Tally:
    """Count references, distinct objects and their bytes (unknown sizes count 0)."""
    sizes: dict[str, int | None] = {}
    count = 0
    for ref in refs:
        count += 1
        known = sizes.get(ref.object_id)
        if known is None:
            sizes[ref.object_id] = ref.size_bytes
    unknown = sum(1 for size in sizes.values() if size is None or size < 0)
    total = sum(size for size in sizes.values() if size is not None and size > 0)
    return Tally(refs=count, objects=len(sizes), bytes=total, unknown_sizes=unknown)


def per_node(snapshot: MemorySnapshot) -> tuple[NodeSummary, ...]:
    """Each node of the snapshot with what its processes hold and own, and what was lost with it."""
    held: dict[str, list[ObjectRefRecord]] = {}
    owned: dict[str, list[ObjectRefRecord]] = {}
    lost: dict[str, list[ObjectRefRecord]] = {}
    for ref in snapshot.refs:
        held.setdefault(ref.node_id, []).append(ref)
        if ref.owned is True:
            owned.setdefault(ref.node_id, []).append(ref)
        elif ref.owned is False and ref.owner_pid is None and ref.owner_node_id is not None:
            lost.setdefault(ref.owner_node_id, []).append(ref)
    return tuple(
        NodeSummary(
            node,
            tally(held.get(node.node_id, ())),
            tally(owned.get(node.node_id, ())),
            tally(lost.get(node.node_id, ())),
        )
        for node in snapshot.nodes
    )


def _ref_order(sort_by: SortBy) -> Callable[[ObjectRefRecord], tuple[int, int, str]]:
    def size(ref: ObjectRefRecord) -> int:
        return ref.size_bytes if ref.size_bytes is not None else -1

    if sort_by is SortBy.SIZE:
        return lambda ref: (-size(ref), ref.pid, ref.object_id)
    if sort_by is SortBy.COUNT:
        return lambda ref: (
            -(ref.local_ref_count + ref.submitted_task_ref_count),
            -size(ref),
            ref.object_id,
        )
    return lambda ref: (ref.pid, -size(ref), ref.object_id)


def sort_refs(refs: Iterable[ObjectRefRecord], sort_by: SortBy) -> list[ObjectRefRecord]:
    """References in display order for ``sort_by``."""
    return sorted(refs, key=_ref_order(sort_by))


def _group_order(sort_by: SortBy) -> Callable[[Group], tuple[int, str]]:
    if sort_by is SortBy.SIZE:
        return lambda g: (-g.tally.bytes, g.key)
    if sort_by is SortBy.COUNT:
        return lambda g: (-g.tally.refs, g.key)
    return lambda g: (min((r.pid for r in g.refs), default=0), g.key)


def analyze(
    snapshot: MemorySnapshot,
    group_by: GroupBy = GroupBy.NODE,
    sort_by: SortBy = SortBy.SIZE,
    top: int | None = None,
) -> MemoryReport:
    """Group and order a snapshot's references; keep ``top`` references per group.

    >>> from rayobs.memory._model import StoreStats
    >>> empty = MemorySnapshot("2026-01-01T00:00:00+00:00", "127.0.0.1:6379", "2.60.0",
    ...                        (), (), StoreStats())
    >>> analyze(empty).groups
    ()
    """
    if top is not None and top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    members: dict[str, list[ObjectRefRecord]] = {}
    for ref in snapshot.refs:
        members.setdefault(group_key(ref, group_by), []).append(ref)
    groups: list[Group] = []
    for key, refs in members.items():
        ordered = sort_refs(refs, sort_by)
        counts: dict[ReferenceType, int] = {}
        for ref in refs:
            counts[ref.reference_type] = counts.get(ref.reference_type, 0) + 1
        # The pid order needs every member before they are cut to `top`.
        whole = Group(key, tally(refs), counts, tuple(ordered))
        groups.append(whole)
    groups.sort(key=_group_order(sort_by))
    if top is not None:
        groups = [replace(g, refs=g.refs[:top]) for g in groups]
    return MemoryReport(
        snapshot=snapshot,
        group_by=group_by,
        sort_by=sort_by,
        top=top,
        groups=tuple(groups),
        total=tally(snapshot.refs),
        nodes=per_node(snapshot),
    )
