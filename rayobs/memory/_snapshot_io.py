"""Snapshots as JSON documents, and back, with one clear error for a bad file.

The document written by ``rayobs memory snapshot`` is also the core of
``rayobs memory --format json`` (which adds groups and hints), so either can be
diffed, as long as it lists every reference (no ``--top``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from rayobs.memory._model import (
    MemorySnapshot,
    NodeMemory,
    ObjectRefRecord,
    ReferenceType,
    StoreStats,
)

KIND = "rayobs.memory"
VERSION = 1

T = TypeVar("T")


class SnapshotFileError(ValueError):
    """A snapshot file that cannot be read or is not a snapshot (one line)."""


def ref_to_dict(ref: ObjectRefRecord) -> dict[str, Any]:
    """The JSON shape of one reference."""
    return {
        "object_id": ref.object_id,
        "size_bytes": ref.size_bytes,
        "reference_type": ref.reference_type.value,
        "pid": ref.pid,
        "worker_type": ref.worker_type,
        "node_ip": ref.node_ip,
        "node_id": ref.node_id,
        "worker_id": ref.worker_id,
        "job_id": ref.job_id,
        "actor_id": ref.actor_id,
        "owned": ref.owned,
        "owner_pid": ref.owner_pid,
        "owner_node_ip": ref.owner_node_ip,
        "owner_node_id": ref.owner_node_id,
        "call_site": ref.call_site,
        "task_status": ref.task_status,
        "attempt": ref.attempt,
        "local_ref_count": ref.local_ref_count,
        "submitted_task_ref_count": ref.submitted_task_ref_count,
        "pinned_in_memory": ref.pinned_in_memory,
        "contained_in": list(ref.contained_in),
    }


def store_to_dict(store: StoreStats) -> dict[str, Any]:
    return asdict(store)


def node_to_dict(node: NodeMemory) -> dict[str, Any]:
    return {
        "node_id": node.node_id,
        "node_ip": node.node_ip,
        "node_name": node.node_name,
        "state": node.state,
        "death": node.death,
        "died_at": node.died_at,
        "workers": node.workers,
        "error": node.error,
        "truncated_pids": list(node.truncated_pids),
        "store": None if node.store is None else store_to_dict(node.store),
    }


def header_to_dict(snapshot: MemorySnapshot) -> dict[str, Any]:
    """Everything but the references: what ``--stats-only`` prints."""
    return {
        "kind": KIND,
        "version": VERSION,
        "taken_at": snapshot.taken_at,
        "address": snapshot.address,
        "ray_version": snapshot.ray_version,
        "complete": snapshot.complete,
        "store": store_to_dict(snapshot.store),
        "nodes": [node_to_dict(node) for node in snapshot.nodes],
    }


def snapshot_to_dict(snapshot: MemorySnapshot) -> dict[str, Any]:
    """The whole snapshot as a JSON-ready dict (``top`` is null: every reference is listed)."""
    document = header_to_dict(snapshot)
    document["top"] = None
    document["refs"] = [ref_to_dict(ref) for ref in snapshot.refs]
    return document


def load_snapshot(path: str | Path) -> MemorySnapshot:
    """Read a snapshot file; raise ``SnapshotFileError`` saying what is wrong with it."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SnapshotFileError(f"cannot read {name}: {reason}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SnapshotFileError(
            f"{name} is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    return snapshot_from_dict(document, name)


def snapshot_from_dict(document: Any, name: str = "snapshot") -> MemorySnapshot:
    """Rebuild a snapshot from its JSON shape; ``name`` is used in error messages."""
    if not isinstance(document, Mapping) or document.get("kind") != KIND:
        raise SnapshotFileError(
            f"{name} is not a rayobs memory snapshot (take one with `rayobs memory snapshot`)"
        )
    if document.get("version") != VERSION:
        raise SnapshotFileError(
            f"{name} has snapshot version {document.get('version')!r}; "
            f"this rayobs reads version {VERSION}"
        )
    if document.get("top") is not None:
        raise SnapshotFileError(
            f"{name} lists only the top {document['top']} references per group; "
            "take full snapshots with `rayobs memory snapshot`"
        )
    if "refs" not in document:
        raise SnapshotFileError(f"{name} holds store stats only (--stats-only): no references")
    refs = _items(document, "refs", name)
    nodes = _items(document, "nodes", name)
    return MemorySnapshot(
        taken_at=_get(document, "taken_at", str, name),
        address=_get(document, "address", str, name),
        ray_version=_get(document, "ray_version", str, name),
        nodes=tuple(_node(n, f"{name}: nodes[{i}]") for i, n in enumerate(nodes)),
        refs=tuple(_ref(r, f"{name}: refs[{i}]") for i, r in enumerate(refs)),
        store=_store(document.get("store"), f"{name}: store"),
    )


def _items(document: Mapping[str, Any], key: str, where: str) -> list[Any]:
    items = document.get(key)
    if not isinstance(items, list):
        raise SnapshotFileError(f"{where}: '{key}' must be a list")
    return items


def _value(record: Any, key: str, where: str) -> Any:
    if not isinstance(record, Mapping):
        raise SnapshotFileError(f"{where} must be an object")
    if key not in record:
        raise SnapshotFileError(f"{where}: missing '{key}'")
    return record[key]


def _check(value: Any, key: str, kind: type[T], where: str, expected: str) -> T:
    # bool is an int in Python; a count given as true/false is still malformed.
    wrong_bool = isinstance(value, bool) and kind is not bool
    if kind is float and isinstance(value, int) and not wrong_bool:
        value = float(value)
    if not isinstance(value, kind) or wrong_bool:
        raise SnapshotFileError(f"{where}: '{key}' must be {expected}, got {value!r}"[:300])
    return value


def _added(record: Mapping[str, Any], key: str, where: str) -> str | None:
    """A text field added after version 1 was first written: older files lack it."""
    return _opt(record, key, str, where) if key in record else None


def _get(record: Any, key: str, kind: type[T], where: str) -> T:
    return _check(_value(record, key, where), key, kind, where, kind.__name__)


def _opt(record: Any, key: str, kind: type[T], where: str) -> T | None:
    value = _value(record, key, where)
    if value is None:
        return None
    return _check(value, key, kind, where, f"{kind.__name__} or null")


def _ref(record: Any, where: str) -> ObjectRefRecord:
    reference_type = _get(record, "reference_type", str, where)
    try:
        kind = ReferenceType(reference_type)
    except ValueError:
        raise SnapshotFileError(
            f"{where}: unknown reference_type {reference_type!r}"[:300]
        ) from None
    contained = _get(record, "contained_in", list, where)
    if not all(isinstance(item, str) for item in contained):
        raise SnapshotFileError(f"{where}: 'contained_in' must list object ids")
    return ObjectRefRecord(
        object_id=_get(record, "object_id", str, where),
        size_bytes=_opt(record, "size_bytes", int, where),
        reference_type=kind,
        pid=_get(record, "pid", int, where),
        worker_type=_get(record, "worker_type", str, where),
        node_ip=_get(record, "node_ip", str, where),
        node_id=_get(record, "node_id", str, where),
        worker_id=_get(record, "worker_id", str, where),
        job_id=_get(record, "job_id", str, where),
        actor_id=_opt(record, "actor_id", str, where),
        owned=_opt(record, "owned", bool, where),
        owner_pid=_opt(record, "owner_pid", int, where),
        owner_node_ip=_opt(record, "owner_node_ip", str, where),
        owner_node_id=_added(record, "owner_node_id", where),
        call_site=_opt(record, "call_site", str, where),
        task_status=_opt(record, "task_status", str, where),
        attempt=_get(record, "attempt", int, where),
        local_ref_count=_get(record, "local_ref_count", int, where),
        submitted_task_ref_count=_get(record, "submitted_task_ref_count", int, where),
        pinned_in_memory=_get(record, "pinned_in_memory", bool, where),
        contained_in=tuple(contained),
    )


_STORE_TYPES: dict[str, type] = {name: type(value) for name, value in asdict(StoreStats()).items()}


def _store(record: Any, where: str) -> StoreStats:
    return StoreStats(**{key: _get(record, key, kind, where) for key, kind in _STORE_TYPES.items()})


def _node(record: Any, where: str) -> NodeMemory:
    truncated = _get(record, "truncated_pids", list, where)
    if not all(isinstance(pid, int) and not isinstance(pid, bool) for pid in truncated):
        raise SnapshotFileError(f"{where}: 'truncated_pids' must list process ids")
    store = _opt(record, "store", dict, where)
    return NodeMemory(
        node_id=_get(record, "node_id", str, where),
        node_ip=_get(record, "node_ip", str, where),
        node_name=_get(record, "node_name", str, where),
        store=None if store is None else _store(store, f"{where}.store"),
        workers=_get(record, "workers", int, where),
        error=_opt(record, "error", str, where),
        truncated_pids=tuple(truncated),
        state=_added(record, "state", where) or "ALIVE",
        death=_added(record, "death", where),
        died_at=_added(record, "died_at", where),
    )
