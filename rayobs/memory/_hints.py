"""Leak hints: patterns in a snapshot that usually explain memory that does not go away.

Each hint says what was seen (with counts, bytes and example object ids) and
what to do about it. Pure: it reads a ``MemorySnapshot`` and decides nothing
about presentation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from rayobs.memory._analysis import NO_CALL_SITE, node_label, short_call_site, tally
from rayobs.memory._model import MemorySnapshot, ObjectRefRecord, ReferenceType
from rayobs.memory._units import format_bytes as _size

LARGE_DRIVER_REF_BYTES = 100 * 10**6
STORE_PRESSURE_FRACTION = 0.8
TOP_CALL_SITES = 3
EXAMPLES = 5


class HintKind(str, Enum):
    """The kinds of leak hint; the value is the stable name used in JSON."""

    DEAD_OWNER = "dead_owner"
    CAPTURED_IN_OBJECT = "captured_in_object"
    LARGE_DRIVER_REFERENCE = "large_driver_reference"
    TOP_CALL_SITES = "top_call_sites"
    CALL_SITES_NOT_RECORDED = "call_sites_not_recorded"
    STORE_PRESSURE = "store_pressure"


@dataclass(frozen=True)
class LeakHint:
    """One finding: a one-line ``summary``, the ``advice``, and what it rests on.

    ``bytes`` and ``count`` measure the objects concerned (0 when the hint is
    about configuration); ``details`` are one line each (per process, per call
    site); ``object_ids`` are a few examples to look up.
    """

    kind: HintKind
    summary: str
    advice: str
    bytes: int = 0
    count: int = 0
    details: tuple[str, ...] = ()
    object_ids: tuple[str, ...] = ()


def leak_hints(
    snapshot: MemorySnapshot, *, large_bytes: int = LARGE_DRIVER_REF_BYTES
) -> tuple[LeakHint, ...]:
    """Every hint that applies to ``snapshot``, most telling first.

    ``large_bytes`` is the size from which a driver's reference counts as large.
    """
    found = [
        _dead_owner(snapshot),
        _captured(snapshot.refs),
        _large_driver_refs(snapshot.refs, large_bytes),
        _top_call_sites(snapshot.refs),
        _call_sites_missing(snapshot.refs),
        _store_pressure(snapshot),
    ]
    return tuple(hint for hint in found if hint is not None)


def _n(count: int, noun: str) -> str:
    """``1 reference``, ``2 references``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _examples(refs: Sequence[ObjectRefRecord]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r.object_id for r in refs))[:EXAMPLES]


def _per_holder(refs: Sequence[ObjectRefRecord]) -> tuple[str, ...]:
    holders: dict[tuple[int, str, str], list[ObjectRefRecord]] = {}
    for ref in refs:
        holders.setdefault((ref.pid, ref.node_ip, ref.worker_type), []).append(ref)
    lines = []
    for (pid, ip, kind), held in sorted(holders.items(), key=lambda item: -tally(item[1]).bytes):
        counted = tally(held)
        lines.append(
            f"pid {pid} ({kind.lower()}) on {ip}: {_n(counted.refs, 'reference')}, "
            f"{_size(counted.bytes)}"
        )
    return tuple(lines)


def _per_owner_node(snapshot: MemorySnapshot, refs: Sequence[ObjectRefRecord]) -> tuple[str, ...]:
    """Where the owners were, when their objects were created by an actor the GCS placed."""
    nodes = {node.node_id: node for node in snapshot.nodes}
    by_node: dict[str, list[ObjectRefRecord]] = {}
    for ref in refs:
        if ref.owner_node_id is not None:
            by_node.setdefault(ref.owner_node_id, []).append(ref)
    lines = []
    for node_id, owned in by_node.items():
        node = nodes.get(node_id)
        where = node_label(node.node_ip, node_id) if node else node_id[:8]
        state = "" if node is None or node.alive else f", dead since {node.died_at or '?'}"
        counted = tally(owned)
        lines.append(
            f"owners were on node {where}{state}: {_n(counted.refs, 'reference')}, "
            f"{_size(counted.bytes)}"
        )
    return tuple(lines)


def _dead_owner(snapshot: MemorySnapshot) -> LeakHint | None:
    orphans = [
        r
        for r in snapshot.refs
        if r.owned is False
        and r.owner_pid is None
        and r.reference_type is not ReferenceType.ACTOR_HANDLE
    ]
    if not orphans:
        return None
    counted = tally(orphans)
    caveat = (
        ""
        if snapshot.complete
        else " (some nodes or reference lists were not read: the owner may be among them)"
    )
    pinned = sum(1 for r in orphans if r.pinned_in_memory)
    pinned_note = f"; {pinned} still pinned in the holder's memory" if pinned else ""
    return LeakHint(
        kind=HintKind.DEAD_OWNER,
        summary=(
            f"{_n(counted.refs, 'borrowed reference')} ({_size(counted.bytes)}) whose owner is no "
            f"longer alive{pinned_note}{caveat}"
        ),
        advice=(
            "ray.get on them raises OwnerDiedError: the value went with its owner and Ray "
            "cannot rebuild it. Drop these references in the processes listed (del, clear the "
            "container); to avoid it, create long-lived objects in a process that outlives "
            "every borrower (the driver or a long-lived actor)."
        ),
        bytes=counted.bytes,
        count=counted.refs,
        details=_per_holder(orphans) + _per_owner_node(snapshot, orphans),
        object_ids=_examples(orphans),
    )


def _captured(refs: Sequence[ObjectRefRecord]) -> LeakHint | None:
    captured = [r for r in refs if r.contained_in]
    if not captured:
        return None
    only = [r for r in captured if r.reference_type is ReferenceType.CAPTURED_IN_OBJECT]
    counted = tally(captured)
    outers = tuple(dict.fromkeys(outer for r in captured for outer in r.contained_in))
    kept = f", {tally(only).objects} kept alive only by that" if only else ""
    return LeakHint(
        kind=HintKind.CAPTURED_IN_OBJECT,
        summary=(
            f"{_n(counted.objects, 'object')} ({_size(counted.bytes)}) referenced from inside "
            f"{_n(len(outers), 'other object')}{kept}"
        ),
        advice=(
            "An object whose reference was put inside another object (a list of refs passed "
            "to ray.put, a task returning refs) lives as long as that outer object. Release "
            "the outer reference to free them; refs that capture each other form a cycle "
            "Ray's reference counting never frees."
        ),
        bytes=counted.bytes,
        count=counted.objects,
        details=tuple(f"captured by {outer}" for outer in outers[:EXAMPLES]),
        object_ids=_examples(only or captured),
    )


def _large_driver_refs(refs: Sequence[ObjectRefRecord], large_bytes: int) -> LeakHint | None:
    large = [
        r for r in refs if r.is_driver and r.size_bytes is not None and r.size_bytes >= large_bytes
    ]
    if not large:
        return None
    large.sort(key=lambda r: -(r.size_bytes or 0))
    counted = tally(large)
    return LeakHint(
        kind=HintKind.LARGE_DRIVER_REFERENCE,
        summary=(
            f"{_n(counted.objects, 'object')} of {_size(large_bytes)} or more "
            f"({_size(counted.bytes)} in all) referenced by drivers"
        ),
        advice=(
            "A driver lives as long as its job, so a large reference it keeps (a variable, a "
            "list of results) pins the object in the store until the job ends. Delete it after "
            "use, or pass refs on to tasks without keeping them in the driver."
        ),
        bytes=counted.bytes,
        count=counted.objects,
        details=_per_holder(large),
        object_ids=_examples(large),
    )


def _top_call_sites(refs: Sequence[ObjectRefRecord]) -> LeakHint | None:
    # Creation sites are the owners' records; a borrower's "call site" is Ray's note on
    # where it received the reference, which would count the same bytes twice.
    owned = [r for r in refs if r.owned is True]
    sites: dict[str, list[ObjectRefRecord]] = {}
    for ref in owned:
        sites.setdefault(ref.call_site or NO_CALL_SITE, []).append(ref)
    if set(sites) <= {NO_CALL_SITE}:
        return None  # nothing recorded: the next hint says how to record them
    total = tally(owned).bytes
    ranked = sorted(
        ((site, tally(held)) for site, held in sites.items() if site != NO_CALL_SITE),
        key=lambda item: (-item[1].bytes, -item[1].refs, item[0]),
    )[:TOP_CALL_SITES]
    top_bytes = sum(counted.bytes for _site, counted in ranked)
    share = f" ({100 * top_bytes / total:.0f}% of owned bytes)" if total else ""
    return LeakHint(
        kind=HintKind.TOP_CALL_SITES,
        summary=f"call sites holding the most: {len(ranked)} hold {_size(top_bytes)}{share}",
        advice=(
            "Start at the first call site: the objects created there are the ones still "
            "referenced. Group by call site (--group-by callsite) to see every reference."
        ),
        bytes=top_bytes,
        count=sum(counted.refs for _site, counted in ranked),
        details=tuple(
            f"{_size(counted.bytes)} in {_n(counted.refs, 'reference')}: {short_call_site(site)}"
            for site, counted in ranked
        ),
    )


def _call_sites_missing(refs: Sequence[ObjectRefRecord]) -> LeakHint | None:
    owned = [r for r in refs if r.owned is True]
    missing = [r for r in owned if not r.call_site]
    if not missing:
        return None
    pids = sorted({r.pid for r in missing})
    shown = ", ".join(str(pid) for pid in pids[:EXAMPLES]) + (", ..." if len(pids) > 5 else "")
    return LeakHint(
        kind=HintKind.CALL_SITES_NOT_RECORDED,
        summary=(
            f"{len(missing)} of {len(owned)} owned references have no call site (processes {shown})"
        ),
        advice=(
            "Set RAY_record_ref_creation_sites=1 in the environment of `ray start` on every "
            "node and of the driver, then reproduce: each reference then names the line that "
            "created it (it costs a stack walk per ray.put and task call)."
        ),
        count=len(missing),
    )


def _store_pressure(snapshot: MemorySnapshot) -> LeakHint | None:
    store = snapshot.store
    fraction = store.used_fraction
    notes: list[str] = []
    if fraction is not None and fraction >= STORE_PRESSURE_FRACTION:
        notes.append(
            f"the object store is {100 * fraction:.0f}% full "
            f"({_size(store.used_bytes)} of {_size(store.capacity_bytes)})"
        )
    if store.fallback_bytes > 0:
        notes.append(f"{_size(store.fallback_bytes)} went to the filesystem fallback")
    if store.spilled_bytes > 0:
        notes.append(f"{_size(store.spilled_bytes)} were spilled to disk")
    if store.pulls_queued:
        notes.append("object fetches are queued waiting for memory")
    if not notes:
        return None
    return LeakHint(
        kind=HintKind.STORE_PRESSURE,
        summary="; ".join(notes),
        advice=(
            "ObjectStoreFullError comes next once spilling cannot keep up. Free the references "
            "above, or give the store more room (ray start --object-store-memory)."
        ),
        bytes=store.used_bytes,
    )
