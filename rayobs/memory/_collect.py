"""Read a running cluster's object references and store stats: the one module that touches Ray.

It reads what ``ray memory`` reads (Ray 2.60), without ``ray.init``: the node
table from the GCS (through ``rayobs._cluster``, which also resolves a
dashboard URL, checks the token settings, refuses a closed port at once and
keeps every call under a deadline), then, from every alive node's raylet,
``GetNodeStats`` with memory info (what ``internal_api.node_stats`` asks for).
That reply carries each process's reference table (``CoreWorkerStats.object_refs``)
and the node's object store stats; its protobuf fields are read directly, so
nothing is parsed from text. Dead nodes come from the same node table, with
Ray's reason; a borrowed reference whose owner is gone is traced to the node
of the actor that created it through the GCS actor table (``GetActorInfo``).
All of these are private to Ray: when they move, ``RayInternalsChanged`` says
so in one line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from rayobs._cluster import (
    TESTED_WITH,
    ClusterUnavailable,
    RayInternalsChanged,
    node_table,
    within,
)
from rayobs.memory._analysis import link_owners
from rayobs.memory._model import (
    MemorySnapshot,
    NodeMemory,
    ObjectRefRecord,
    ReferenceType,
    StoreStats,
    classify_reference,
)

READ_BUDGET_S = 30.0  # the raylets' answer may take longer than the connection
NODE_MARGIN_S = 2.0  # the raylets' own deadline ends this much before the whole read's
OWNER_LOOKUPS = 100  # at most this many actors asked for, to place references that lost owners
_HINT = "`ray memory` still works meanwhile"


@dataclass(frozen=True)
class _RayApi:
    """The Ray internals used to read the raylets, resolved once."""

    version: str
    channel: Callable[..., Any]
    stub: Callable[[Any], Any]
    request: Callable[..., Any]
    task_status_name: Callable[[int], str]
    worker_type_name: Callable[[int], str]
    max_message: int
    actor_marker: tuple[int, int]  # hex spans: task-unique part, actor-unique part
    alive_state: int
    death_reason_name: Callable[[int], str]
    actor_stub: Callable[[Any], Any]
    actor_request: Callable[..., Any]


def collect_snapshot(address: str | None = None, *, timeout: float = 8.0) -> MemorySnapshot:
    """Every object reference of the cluster at ``address``, and its store stats.

    ``address`` is the GCS address (``127.0.0.1:6379``) or the dashboard URL
    (``http://127.0.0.1:8265``); ``None`` means ``RAY_ADDRESS``, then the latest
    local cluster. Raises ``ClusterUnavailable`` when no cluster answers within
    ``timeout`` seconds, ``RayInternalsChanged`` when Ray's private API moved.
    """
    bootstrap, table = node_table(address, timeout)
    api = _ray_api()
    nodes = sorted(
        (node for node in table if node.state == api.alive_state),
        key=lambda node: (not node.is_head_node, node.node_manager_address, node.node_id),
    )
    if not nodes:
        raise ClusterUnavailable(f"the cluster at {bootstrap} has no alive node")
    taken_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    budget = max(timeout, READ_BUDGET_S)
    deadline = time.monotonic() + budget
    replies = within(
        deadline,
        f"the raylets of {bootstrap} did not answer in time",
        # Each raylet gets a little less than the whole read: one that hangs is then reported
        # as not read, instead of taking the others down with it.
        lambda: _node_stats(api, nodes, budget - NODE_MARGIN_S),
        bootstrap,
    )
    try:
        built = [_node(api, node, reply) for node, reply in zip(nodes, replies, strict=True)]
        dead = sorted(
            (node for node in table if node.state != api.alive_state),
            key=lambda node: -node.end_time_ms,
        )
        node_memory = (
            *(node_memory for node_memory, _refs in built),
            *(_dead_node(api, node) for node in dead),
        )
    except (AttributeError, TypeError, ValueError) as exc:
        raise RayInternalsChanged(
            f"Ray {api.version}'s node stats are not shaped as in Ray {TESTED_WITH} "
            f"({type(exc).__name__}: {exc}); {_HINT}"
        ) from None
    refs = link_owners([ref for _node_memory, node_refs in built for ref in node_refs])
    refs = _place_lost_owners(api, bootstrap, refs, deadline)
    return MemorySnapshot(
        taken_at=taken_at,
        address=bootstrap,
        ray_version=api.version,
        nodes=node_memory,
        refs=refs,
        store=StoreStats.total(n.store for n in node_memory if n.store is not None),
    )


def _ray_api() -> _RayApi:
    import ray  # present: the node table was read with it

    try:
        from ray._private.grpc_utils import init_grpc_channel
        from ray._raylet import ActorID, JobID, TaskID
        from ray.core.generated import (
            common_pb2,
            gcs_pb2,
            gcs_service_pb2,
            gcs_service_pb2_grpc,
            node_manager_pb2,
            node_manager_pb2_grpc,
        )

        unique = (TaskID.size() - ActorID.size()) * 2
        return _RayApi(
            version=ray.__version__,
            channel=init_grpc_channel,
            stub=node_manager_pb2_grpc.NodeManagerServiceStub,
            request=node_manager_pb2.GetNodeStatsRequest,  # type: ignore[attr-defined]
            task_status_name=common_pb2.TaskStatus.Name,  # type: ignore[attr-defined]
            worker_type_name=common_pb2.WorkerType.Name,  # type: ignore[attr-defined]
            max_message=int(ray._config.max_grpc_message_size()),
            actor_marker=(unique, (ActorID.size() - JobID.size()) * 2),
            alive_state=int(gcs_pb2.GcsNodeInfo.GcsNodeState.Value("ALIVE")),  # type: ignore[attr-defined]
            death_reason_name=common_pb2.NodeDeathInfo.Reason.Name,  # type: ignore[attr-defined]
            actor_stub=gcs_service_pb2_grpc.ActorInfoGcsServiceStub,
            actor_request=gcs_service_pb2.GetActorInfoRequest,  # type: ignore[attr-defined]
        )
    except (ImportError, AttributeError) as exc:
        version = getattr(ray, "__version__", "?")
        raise RayInternalsChanged(
            f"Ray {version} no longer has the private API rayobs memory reads "
            f"(tested with Ray {TESTED_WITH}: {exc}); {_HINT}"
        ) from None


def _node_stats(api: _RayApi, nodes: list[Any], timeout: float) -> list[Any]:
    """``GetNodeStats`` of every node at once; an exception object where a node failed."""
    options = [
        ("grpc.max_send_message_length", api.max_message),
        ("grpc.max_receive_message_length", api.max_message),
    ]
    calls = []
    for node in nodes:
        target = f"{node.node_manager_address}:{node.node_manager_port}"
        stub = api.stub(api.channel(target, options=options))
        calls.append(
            stub.GetNodeStats.future(api.request(include_memory_info=True), timeout=timeout)
        )
    replies: list[Any] = []
    for call in calls:
        try:
            replies.append(call.result())
        except Exception as exc:  # one node down must not hide the others
            replies.append(exc)
    return replies


def _dead_node(api: _RayApi, node: Any) -> NodeMemory:
    """A dead node of the node table: what Ray says killed it, and when."""
    info = node.death_info
    message = " ".join(info.reason_message.split())[:300]
    reason = api.death_reason_name(info.reason)
    died_at = (
        datetime.fromtimestamp(node.end_time_ms / 1000, timezone.utc).isoformat(timespec="seconds")
        if node.end_time_ms > 0
        else None
    )
    return NodeMemory(
        node.node_id.hex(),
        node.node_manager_address,
        node.node_name or node.node_manager_address,
        None,
        state="DEAD",
        death=f"{reason}: {message}" if message else reason,
        died_at=died_at,
    )


def _creator_actor(api: _RayApi, object_id: str) -> str | None:
    """The actor whose task created ``object_id`` (put or returned), from the id's layout."""
    unique, actor_unique = api.actor_marker
    actor = object_id[unique : unique + actor_unique + 8]  # the actor id ends with its job id
    return actor if actor[:actor_unique].strip("f") else None


def _place_lost_owners(
    api: _RayApi, gcs: str, refs: Sequence[ObjectRefRecord], deadline: float
) -> tuple[ObjectRefRecord, ...]:
    """Give references whose owner is gone the node of the actor that created their object.

    Only objects an actor created can be placed (a task's or a driver's
    objects carry no owner in their id); the GCS keeps dead actors with the
    node they ran on. Best effort: an actor the GCS does not answer for stays
    unplaced.
    """
    wanted: dict[str, str] = {}
    for ref in refs:
        if ref.owned is False and ref.owner_pid is None:
            actor = _creator_actor(api, ref.object_id)
            if actor is not None and len(wanted) < OWNER_LOOKUPS:
                wanted[ref.object_id] = actor
    if not wanted:
        return tuple(refs)
    placed = _actor_nodes(api, gcs, set(wanted.values()), deadline)
    return tuple(
        replace(ref, owner_node_id=placed.get(wanted.get(ref.object_id, ""), ref.owner_node_id))
        if ref.owner_pid is None and ref.reference_type is not ReferenceType.ACTOR_HANDLE
        else ref
        for ref in refs
    )


def _actor_nodes(api: _RayApi, gcs: str, actors: set[str], deadline: float) -> dict[str, str]:
    """actor id -> the node it last ran on, as far as the GCS answers before ``deadline``."""
    stub = api.actor_stub(api.channel(gcs))
    timeout = max(0.5, deadline - time.monotonic())
    calls = {
        actor: stub.GetActorInfo.future(
            api.actor_request(actor_id=bytes.fromhex(actor)), timeout=timeout
        )
        for actor in actors
    }
    found: dict[str, str] = {}
    for actor, call in calls.items():
        try:
            data = call.result().actor_table_data
        except Exception:  # the placement is a nicety: the references are listed either way
            continue
        node = (data.address.node_id or data.node_id).hex()
        if node.strip("f0"):
            found[actor] = node
    return found


def _node_error(error: BaseException) -> str:
    details = getattr(error, "details", None)
    text = details() if callable(details) else str(error)
    return " ".join(str(text).split())[:200] or type(error).__name__


def _store(stats: Any) -> StoreStats:
    return StoreStats(
        used_bytes=stats.object_store_bytes_used,
        capacity_bytes=stats.object_store_bytes_avail,
        primary_copy_bytes=stats.object_store_bytes_primary_copy,
        fallback_bytes=stats.object_store_bytes_fallback,
        num_objects=stats.num_local_objects,
        num_primary_copies=stats.num_object_store_primary_copies,
        spilled_bytes=stats.spilled_bytes_total,
        spilled_objects=stats.spilled_objects_total,
        spill_time_s=stats.spill_time_total_s,
        restored_bytes=stats.restored_bytes_total,
        restored_objects=stats.restored_objects_total,
        restore_time_s=stats.restore_time_total_s,
        pulls_queued=stats.object_pulls_queued,
        created_objects_total=stats.cumulative_created_objects,
        created_bytes_total=stats.cumulative_created_bytes,
    )


def _node(api: _RayApi, node: Any, reply: Any) -> tuple[NodeMemory, list[ObjectRefRecord]]:
    """One node's ``GcsNodeInfo`` and ``GetNodeStats`` reply (or the error it raised)."""
    node_id = node.node_id.hex()
    node_ip = node.node_manager_address
    name = node.node_name or node_ip
    if isinstance(reply, BaseException):
        return NodeMemory(node_id, node_ip, name, None, error=_node_error(reply)), []
    refs: list[ObjectRefRecord] = []
    truncated: list[int] = []
    for worker in reply.core_workers_stats:
        refs.extend(_worker_refs(api, worker, node_id))
        if worker.objects_total > len(worker.object_refs):
            truncated.append(worker.pid)
    memory = NodeMemory(
        node_id,
        node_ip,
        name,
        _store(reply.store_stats),
        workers=len(reply.core_workers_stats),
        truncated_pids=tuple(truncated),
    )
    return memory, refs


def _worker_refs(api: _RayApi, worker: Any, node_id: str) -> list[ObjectRefRecord]:
    pid = worker.pid
    worker_type = api.worker_type_name(worker.worker_type)
    ip = worker.ip_address
    worker_id = worker.worker_id.hex()
    job_id = worker.job_id.hex()
    actor_hex = worker.actor_id.hex()
    actor_id = actor_hex if actor_hex.strip("f") else None
    unique, actor_unique = api.actor_marker
    status_name = api.task_status_name
    refs = []
    for info in worker.object_refs:
        contained = tuple(outer.hex() for outer in info.contained_in_owned)
        local, submitted, pinned = (
            info.local_ref_count,
            info.submitted_task_ref_count,
            info.pinned_in_memory,
        )
        if not (pinned or local or submitted or contained):
            continue  # kept only for lineage: not a reference (ray memory skips these too)
        object_id = info.object_id.hex()
        if not object_id.strip("f"):
            continue  # the nil id
        # An actor handle's id has an all-f task part and a real actor part.
        actor_handle = object_id[:unique].strip("f") == "" and bool(
            object_id[unique : unique + actor_unique].strip("f")
        )
        # Ray fills in a task status only on the owner's side (NIL for borrowers).
        status = status_name(info.task_status)
        owned = None if actor_handle else status != "NIL"
        size = info.object_size
        refs.append(
            ObjectRefRecord(
                object_id=object_id,
                size_bytes=size if size >= 0 else None,
                reference_type=classify_reference(
                    actor_handle=actor_handle,
                    pinned_in_memory=pinned,
                    submitted_task_ref_count=submitted,
                    local_ref_count=local,
                    captured=bool(contained),
                ),
                pid=pid,
                worker_type=worker_type,
                node_ip=ip,
                node_id=node_id,
                worker_id=worker_id,
                job_id=job_id,
                actor_id=actor_id,
                owned=owned,
                owner_pid=pid if owned else None,
                owner_node_ip=ip if owned else None,
                owner_node_id=node_id if owned else None,
                call_site=info.call_site or None,
                task_status=None if status == "NIL" else status,
                attempt=info.attempt_number + 1,
                local_ref_count=local,
                submitted_task_ref_count=submitted,
                pinned_in_memory=pinned,
                contained_in=contained,
            )
        )
    return refs
