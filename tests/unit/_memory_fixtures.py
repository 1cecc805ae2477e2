"""Hand-made snapshot records for the memory tests, shaped like what Ray 2.60 reports.

The layout mirrors a small incident: a driver (pid 100) that put a large array
and a list capturing two smaller refs; an actor (pid 200) that borrowed one of
them and still holds a reference from an owner that died; a worker (pid 300)
with a pending task's argument.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rayobs.memory import MemorySnapshot, NodeMemory, ObjectRefRecord, ReferenceType, StoreStats

NODE_A = "a" * 56
NODE_B = "b" * 56
BIG = "00" + "f" * 38 + "0100000001e1f505"
SMALL_1 = "00" + "f" * 38 + "0100000002e1f505"
SMALL_2 = "00" + "f" * 38 + "0100000003e1f505"
OUTER = "00" + "f" * 38 + "0100000004e1f505"
ORPHAN = "00bfa4a5859b21acc34bb84c2a6df8523726ca8c0300000002e1f505"
ARG = "00" + "f" * 38 + "0100000005e1f505"
HANDLE = "f" * 16 + "8f6f2a4d1623718ddc937850" + "01000000" + "01000000"
SITE_BIG = "(put object) | job.py:<module>:12"
SITE_SMALL = "(put object) | job.py:load:30"


def ref(object_id: str, **overrides: Any) -> ObjectRefRecord:
    """A driver-owned local reference of 1,000 bytes, with ``overrides`` applied."""
    base = ObjectRefRecord(
        object_id=object_id,
        size_bytes=1_000,
        reference_type=ReferenceType.LOCAL_REFERENCE,
        pid=100,
        worker_type="DRIVER",
        node_ip="127.0.0.1",
        node_id=NODE_A,
        worker_id="01000000" + "f" * 48,
        job_id="01000000",
        actor_id=None,
        owned=True,
        owner_pid=100,
        owner_node_ip="127.0.0.1",
        call_site=None,
        task_status="FINISHED",
        attempt=1,
        local_ref_count=1,
        submitted_task_ref_count=0,
        pinned_in_memory=False,
        contained_in=(),
    )
    return replace(base, **overrides)


def borrowed(object_id: str, **overrides: Any) -> ObjectRefRecord:
    """A reference borrowed by the actor (pid 200), owner not linked yet."""
    values: dict[str, Any] = {
        "pid": 200,
        "worker_type": "WORKER",
        "worker_id": "2" * 56,
        "actor_id": "8f6f2a4d1623718ddc93785001000000",
        "owned": False,
        "owner_pid": None,
        "owner_node_ip": None,
        "task_status": None,
        "call_site": "(deserialize actor task arg) job.Holder.hold",
    }
    values.update(overrides)
    return ref(object_id, **values)


def incident_refs() -> list[ObjectRefRecord]:
    return [
        ref(
            BIG,
            size_bytes=150_000_000,
            call_site=SITE_BIG,
            reference_type=ReferenceType.PINNED_IN_MEMORY,
            pinned_in_memory=True,
        ),
        ref(SMALL_1, size_bytes=2_000, call_site=SITE_SMALL, contained_in=(OUTER,)),
        ref(
            SMALL_2,
            size_bytes=3_000,
            call_site=SITE_SMALL,
            local_ref_count=0,
            contained_in=(OUTER,),
            reference_type=ReferenceType.CAPTURED_IN_OBJECT,
        ),
        ref(OUTER, size_bytes=500, call_site=SITE_SMALL),
        ref(
            HANDLE,
            size_bytes=None,
            owned=None,
            owner_pid=None,
            owner_node_ip=None,
            task_status=None,
            reference_type=ReferenceType.ACTOR_HANDLE,
        ),
        borrowed(SMALL_1, size_bytes=2_000),
        borrowed(ORPHAN, size_bytes=300_000, call_site="<unknown>"),
        ref(
            ARG,
            pid=300,
            worker_type="WORKER",
            node_ip="127.0.0.2",
            node_id=NODE_B,
            owner_pid=300,
            owner_node_ip="127.0.0.2",
            size_bytes=40_000,
            local_ref_count=0,
            submitted_task_ref_count=2,
            task_status="RUNNING",
            reference_type=ReferenceType.USED_BY_PENDING_TASK,
            call_site="(task call) | job.py:run:44",
        ),
    ]


def store(**overrides: Any) -> StoreStats:
    values: dict[str, Any] = {
        "used_bytes": 150_045_500,
        "capacity_bytes": 2_000_000_000,
        "primary_copy_bytes": 150_045_500,
        "num_objects": 4,
        "num_primary_copies": 4,
        "created_objects_total": 9,
        "created_bytes_total": 151_000_000,
    }
    values.update(overrides)
    return StoreStats(**values)


def snapshot(
    refs: list[ObjectRefRecord] | None = None,
    *,
    store_stats: StoreStats | None = None,
    nodes: tuple[NodeMemory, ...] | None = None,
    taken_at: str = "2026-11-23T16:00:00+00:00",
) -> MemorySnapshot:
    from rayobs.memory import link_owners

    stats = store_stats or store()
    if nodes is None:
        nodes = (
            NodeMemory(NODE_A, "127.0.0.1", "head", stats, workers=3),
            NodeMemory(NODE_B, "127.0.0.2", "worker-1", StoreStats(), workers=1),
        )
    return MemorySnapshot(
        taken_at=taken_at,
        address="127.0.0.1:6379",
        ray_version="2.60.0",
        nodes=nodes,
        refs=link_owners(incident_refs() if refs is None else refs),
        store=stats,
    )
