"""Read a running cluster's object references and store stats: the one module that touches Ray.

It reads what ``ray memory`` reads (Ray 2.60), without ``ray.init``: the node
table from the GCS (``ray._raylet.GcsClient.get_all_node_info``; Ray's own
``internal_api.get_state_from_address`` reports a rejected token only as "Failed
to connect to GCS"), then, from every alive node's raylet, ``GetNodeStats``
with memory info (what ``internal_api.node_stats`` asks for). That
reply carries each process's reference table (``CoreWorkerStats.object_refs``)
and the node's object store stats; its protobuf fields are read directly, so
nothing is parsed from text. All of these are private to Ray: when they move,
``RayInternalsChanged`` says so in one line.

Ray waits about 40 s for a GCS that does not answer, and aborts the process
when a configured token file cannot be read, so the token settings are checked
first, a refused ``host:port`` fails at once, and every call runs under a deadline.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from rayobs.diagnose._state import prepare_environment
from rayobs.memory._analysis import link_owners
from rayobs.memory._model import (
    MemorySnapshot,
    NodeMemory,
    ObjectRefRecord,
    StoreStats,
    classify_reference,
)

TESTED_WITH = "2.60"
READ_BUDGET_S = 30.0  # the raylets' answer may take longer than the connection
_HINT = "`ray memory` still works meanwhile"

T = TypeVar("T")


class ClusterUnavailable(RuntimeError):
    """No cluster answered, it refused us, or it could not be found (one line)."""


class RayInternalsChanged(RuntimeError):
    """The private Ray API this module reads is not what it expects (one line)."""


@dataclass(frozen=True)
class _RayApi:
    """The Ray internals used, resolved once."""

    version: str
    canonicalize: Callable[..., str]
    gcs_client: Callable[..., Any]
    alive: int  # GcsNodeInfo.state of an alive node
    channel: Callable[..., Any]
    stub: Callable[[Any], Any]
    request: Callable[..., Any]
    task_status_name: Callable[[int], str]
    worker_type_name: Callable[[int], str]
    max_message: int
    actor_marker: tuple[int, int]  # hex spans: task-unique part, actor-unique part


def check_token_settings(environ: Mapping[str, str] | None = None) -> None:
    """Fail in one line where Ray would abort the process over its token settings."""
    env = os.environ if environ is None else environ
    path = env.get("RAY_AUTH_TOKEN_PATH")
    if path:
        try:
            readable = bool(Path(path).read_text(encoding="utf-8").strip())
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ClusterUnavailable(
                f"RAY_AUTH_TOKEN_PATH names {path}, which cannot be read ({reason})"
            ) from None
        if not readable:
            raise ClusterUnavailable(f"RAY_AUTH_TOKEN_PATH names {path}, which is empty")
        return
    if (
        env.get("RAY_AUTH_MODE", "").lower() == "token"
        and not env.get("RAY_AUTH_TOKEN")
        and not (Path.home() / ".ray" / "auth_token").is_file()
    ):
        raise ClusterUnavailable(
            "RAY_AUTH_MODE=token but no token is configured: set RAY_AUTH_TOKEN or "
            "RAY_AUTH_TOKEN_PATH"
        )


def collect_snapshot(address: str | None = None, *, timeout: float = 8.0) -> MemorySnapshot:
    """Every object reference of the cluster at ``address``, and its store stats.

    ``address`` is the GCS address (``127.0.0.1:6379``); ``None`` means Ray's
    own discovery (``RAY_ADDRESS``, then the latest local cluster). Raises
    ``ClusterUnavailable`` when no cluster answers within ``timeout`` seconds.
    """
    if address is not None and "://" in address:
        raise ClusterUnavailable(
            f"--address takes the cluster's GCS address HOST:PORT (e.g. 127.0.0.1:6379), "
            f"not a URL: {address}"
        )
    check_token_settings()
    explicit = address or os.environ.get("RAY_ADDRESS")
    where = explicit or "the local cluster"
    deadline = time.monotonic() + timeout
    if explicit and explicit not in ("auto", "local"):
        _refuse_fast(explicit, min(2.0, timeout))  # before paying for `import ray`
    prepare_environment()
    api = _ray_api()

    def connect() -> tuple[str, list[Any]]:
        bootstrap = api.canonicalize(address)
        if bootstrap != explicit:  # found by Ray's discovery: check it too
            _refuse_fast(bootstrap, max(0.1, min(2.0, deadline - time.monotonic())))
        client = api.gcs_client(address=bootstrap, cluster_id=None)
        nodes = client.get_all_node_info(timeout=max(1.0, deadline - time.monotonic()))
        return bootstrap, [node for node in nodes.values() if node.state == api.alive]

    bootstrap, nodes = _within(deadline, f"no Ray cluster answered at {where}", connect, where)
    if not nodes:
        raise ClusterUnavailable(f"the cluster at {bootstrap} has no alive node")
    taken_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    replies = _within(
        time.monotonic() + max(timeout, READ_BUDGET_S),
        f"the raylets of {bootstrap} did not answer in time",
        lambda: _node_stats(api, nodes, max(timeout, READ_BUDGET_S)),
        bootstrap,
    )
    try:
        built = [_node(api, node, reply) for node, reply in zip(nodes, replies, strict=True)]
    except (AttributeError, TypeError, ValueError) as exc:
        raise RayInternalsChanged(
            f"Ray {api.version}'s node stats are not shaped as in Ray {TESTED_WITH} "
            f"({type(exc).__name__}: {exc}); {_HINT}"
        ) from None
    refs = link_owners([ref for _node_memory, node_refs in built for ref in node_refs])
    node_memory = tuple(node_memory for node_memory, _refs in built)
    return MemorySnapshot(
        taken_at=taken_at,
        address=bootstrap,
        ray_version=api.version,
        nodes=node_memory,
        refs=refs,
        store=StoreStats.total(n.store for n in node_memory if n.store is not None),
    )


def _ray_api() -> _RayApi:
    try:
        import ray
    except ImportError:
        raise ClusterUnavailable("reading a cluster needs Ray: pip install 'rayobs[ray]'") from None
    try:
        from ray._private import services
        from ray._private.grpc_utils import init_grpc_channel
        from ray._raylet import ActorID, GcsClient, JobID, TaskID  # type: ignore[attr-defined]
        from ray.core.generated import (
            common_pb2,
            gcs_pb2,
            node_manager_pb2,
            node_manager_pb2_grpc,
        )

        unique = (TaskID.size() - ActorID.size()) * 2
        return _RayApi(
            version=ray.__version__,
            canonicalize=services.canonicalize_bootstrap_address_or_die,
            gcs_client=GcsClient,
            alive=gcs_pb2.GcsNodeInfo.GcsNodeState.Value("ALIVE"),  # type: ignore[attr-defined]
            channel=init_grpc_channel,
            stub=node_manager_pb2_grpc.NodeManagerServiceStub,
            request=node_manager_pb2.GetNodeStatsRequest,  # type: ignore[attr-defined]
            task_status_name=common_pb2.TaskStatus.Name,  # type: ignore[attr-defined]
            worker_type_name=common_pb2.WorkerType.Name,  # type: ignore[attr-defined]
            max_message=int(ray._config.max_grpc_message_size()),
            actor_marker=(unique, (ActorID.size() - JobID.size()) * 2),
        )
    except (ImportError, AttributeError) as exc:
        version = getattr(ray, "__version__", "?")
        raise RayInternalsChanged(
            f"Ray {version} no longer has the private API rayobs memory reads "
            f"(tested with Ray {TESTED_WITH}: {exc}); {_HINT}"
        ) from None


def _refuse_fast(bootstrap: str, timeout: float) -> None:
    """One TCP connect, so that a port nobody listens on fails now, not after Ray's retries."""
    host, _, port = bootstrap.rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return
    except ConnectionRefusedError:
        raise ClusterUnavailable(
            f"no Ray cluster at {bootstrap}: nothing listens on that port"
        ) from None
    except OSError:
        return  # slow or unroutable: Ray gets its chance, under the deadline


def _within(deadline: float, late: str, call: Callable[[], T], where: str) -> T:
    """Run ``call`` in a daemon thread and stop waiting at ``deadline``."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="rayobs-memory", daemon=True)
    thread.start()
    thread.join(max(0.0, deadline - time.monotonic()))
    if thread.is_alive():
        raise ClusterUnavailable(f"{late} (timed out)")
    if "error" in outcome:
        raise _explain(outcome["error"], where) from None
    value: T = outcome["value"]
    return value


def _explain(error: BaseException, where: str) -> Exception:
    if isinstance(error, ClusterUnavailable | RayInternalsChanged):
        return error
    text = " ".join(str(error).split())
    if (
        "InvalidAuthToken" in text
        or "Unauthenticated" in text
        or "AuthenticationError" in (type(error).__name__)
    ):
        return ClusterUnavailable(
            f"the cluster at {where} refused our token: set RAY_AUTH_TOKEN or "
            "RAY_AUTH_TOKEN_PATH to its token (and RAY_AUTH_MODE=token)"
        )
    if "Could not find any running Ray instance" in text:
        return ClusterUnavailable(
            "no running Ray cluster found: pass --address HOST:PORT (the GCS address) "
            "or set RAY_ADDRESS"
        )
    if "Timed out while waiting for GCS" in text:
        return ClusterUnavailable(f"no Ray cluster answered at {where}")
    if isinstance(error, ImportError | AttributeError):
        return RayInternalsChanged(f"Ray's private API changed ({error}); {_HINT}")
    return ClusterUnavailable(
        f"cannot read the cluster at {where}: {type(error).__name__}: {text[:200]}"
    )


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
