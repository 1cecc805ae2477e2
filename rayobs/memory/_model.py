"""What a memory snapshot holds: frozen records of object references and store stats.

One ``ObjectRefRecord`` is one reference as one process reports it (a driver and
an actor holding the same object make two records), which is how ``ray memory``
counts. Nothing here talks to Ray: the collector fills these, the analysis and
the renderers read them, and snapshot files round-trip them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from enum import Enum


class ReferenceType(str, Enum):
    """Why a reference is alive, with Ray's own names (``ray memory``'s column).

    When several apply, the first in this order wins, as in Ray.
    """

    ACTOR_HANDLE = "ACTOR_HANDLE"
    PINNED_IN_MEMORY = "PINNED_IN_MEMORY"
    USED_BY_PENDING_TASK = "USED_BY_PENDING_TASK"
    LOCAL_REFERENCE = "LOCAL_REFERENCE"
    CAPTURED_IN_OBJECT = "CAPTURED_IN_OBJECT"
    UNKNOWN_STATUS = "UNKNOWN_STATUS"


def classify_reference(
    *,
    actor_handle: bool,
    pinned_in_memory: bool,
    submitted_task_ref_count: int,
    local_ref_count: int,
    captured: bool,
) -> ReferenceType:
    """The reference type Ray shows for these counts.

    >>> classify_reference(actor_handle=False, pinned_in_memory=False,
    ...                    submitted_task_ref_count=0, local_ref_count=1, captured=True)
    <ReferenceType.LOCAL_REFERENCE: 'LOCAL_REFERENCE'>
    """
    if actor_handle:
        return ReferenceType.ACTOR_HANDLE
    if pinned_in_memory:
        return ReferenceType.PINNED_IN_MEMORY
    if submitted_task_ref_count > 0:
        return ReferenceType.USED_BY_PENDING_TASK
    if local_ref_count > 0:
        return ReferenceType.LOCAL_REFERENCE
    if captured:
        return ReferenceType.CAPTURED_IN_OBJECT
    return ReferenceType.UNKNOWN_STATUS


@dataclass(frozen=True, slots=True)
class ObjectRefRecord:
    """One object reference held by one process.

    ``pid``/``node_ip`` name the process that holds the reference. ``owned`` is
    True when that process is the object's owner, False when it borrowed the
    reference, None when Ray does not say (actor handles). ``owner_pid`` and
    ``owner_node_ip`` name the owner when a live process reports owning the
    object; both are None for a borrowed reference whose owner is gone.
    ``owner_node_id`` is the owner's node: the live owner's, or, for an owner
    that is gone, the node where the GCS last placed the actor that created
    the object (None when neither is known).
    ``size_bytes`` is None when Ray does not know the size yet. ``call_site``
    is None unless Ray recorded one (``RAY_record_ref_creation_sites=1``, or
    Ray's own note on a borrowed reference). ``contained_in`` lists owned
    objects whose value captured this reference.
    """

    object_id: str
    size_bytes: int | None
    reference_type: ReferenceType
    pid: int
    worker_type: str
    node_ip: str
    node_id: str
    worker_id: str
    job_id: str
    actor_id: str | None
    owned: bool | None
    owner_pid: int | None
    owner_node_ip: str | None
    call_site: str | None
    task_status: str | None
    attempt: int
    local_ref_count: int
    submitted_task_ref_count: int
    pinned_in_memory: bool
    contained_in: tuple[str, ...]
    owner_node_id: str | None = None

    @property
    def is_driver(self) -> bool:
        return self.worker_type == "DRIVER"


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Object store (plasma) figures of one node, or their sum over the cluster.

    ``capacity_bytes`` is the store's size (Ray calls it ``bytes_avail``);
    ``fallback_bytes`` were allocated on the filesystem because the store was
    full; spill and restore figures are totals since the node started.
    """

    used_bytes: int = 0
    capacity_bytes: int = 0
    primary_copy_bytes: int = 0
    fallback_bytes: int = 0
    num_objects: int = 0
    num_primary_copies: int = 0
    spilled_bytes: int = 0
    spilled_objects: int = 0
    spill_time_s: float = 0.0
    restored_bytes: int = 0
    restored_objects: int = 0
    restore_time_s: float = 0.0
    pulls_queued: bool = False
    created_objects_total: int = 0
    created_bytes_total: int = 0

    @property
    def used_fraction(self) -> float | None:
        return self.used_bytes / self.capacity_bytes if self.capacity_bytes > 0 else None

    @classmethod
    def total(cls, parts: Iterable[StoreStats]) -> StoreStats:
        """The cluster-wide figures: every number summed, ``pulls_queued`` if any node."""
        values: dict[str, int | float | bool] = {}
        for part in parts:
            for field in fields(cls):
                value = getattr(part, field.name)
                if isinstance(value, bool):
                    values[field.name] = bool(values.get(field.name, False)) or value
                else:
                    values[field.name] = values.get(field.name, 0) + value
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class NodeMemory:
    """One node as the collector saw it.

    ``state`` is the GCS's: ``ALIVE`` or ``DEAD``. A dead node is not read:
    ``death`` says why it died (Ray's reason and message) and ``died_at`` when
    (ISO 8601 UTC). ``error`` says why an alive node could not be read (its
    references are then missing from the snapshot). ``truncated_pids`` are
    processes whose reference list Ray cut short.
    """

    node_id: str
    node_ip: str
    node_name: str
    store: StoreStats | None
    workers: int = 0
    error: str | None = None
    truncated_pids: tuple[int, ...] = ()
    state: str = "ALIVE"
    death: str | None = None
    died_at: str | None = None

    @property
    def alive(self) -> bool:
        return self.state == "ALIVE"

    @property
    def reachable(self) -> bool:
        """True when the node is alive and was read."""
        return self.alive and self.error is None


@dataclass(frozen=True, slots=True)
class MemorySnapshot:
    """Every object reference of a cluster at one moment, plus its store stats.

    ``taken_at`` is an ISO 8601 UTC time; ``store`` sums the reachable nodes.
    ``nodes`` lists the alive nodes, then the dead ones the GCS still knows.
    """

    taken_at: str
    address: str
    ray_version: str
    nodes: tuple[NodeMemory, ...]
    refs: tuple[ObjectRefRecord, ...]
    store: StoreStats

    @property
    def complete(self) -> bool:
        """True when every alive node answered and no reference list was cut short."""
        return all(node.reachable and not node.truncated_pids for node in self.nodes if node.alive)
