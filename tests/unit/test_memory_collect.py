"""The collector without a cluster: Ray 2.60's node-stats protobufs made by hand, and the
errors that replace Ray's tracebacks (token settings, deadlines and their one-line errors
are ``rayobs._cluster``'s: see test_cluster.py)."""

from __future__ import annotations

import sys
import time
from typing import Any

import pytest

from rayobs._cluster import ClusterUnavailable, RayInternalsChanged
from rayobs.memory import ReferenceType
from rayobs.memory._collect import _node, _ray_api, _RayApi, collect_snapshot
from tests.harness import free_port

DRIVER_WORKER_ID = bytes.fromhex("01000000" + "ff" * 24)
PUT = bytes.fromhex("00" + "ff" * 19 + "0100000001e1f505")
OUTER = bytes.fromhex("00" + "ff" * 19 + "0100000002e1f505")
RETURN = bytes.fromhex("c8ef45ccd0112571" + "ff" * 12 + "0100000001000000")
HANDLE = bytes.fromhex("ff" * 8 + "8f6f2a4d1623718ddc937850" + "01000000" + "01000000")
LINEAGE_ONLY = bytes.fromhex("00" + "ff" * 19 + "0100000009e1f505")
NIL = bytes.fromhex("ff" * 28)


def gcs_node() -> Any:
    from ray.core.generated import gcs_pb2

    return gcs_pb2.GcsNodeInfo(
        node_id=bytes.fromhex("ab" * 28), node_manager_address="127.0.0.1", node_name="head"
    )


@pytest.fixture(scope="module")
def api() -> _RayApi:
    return _ray_api()


def reply(truncate: bool = False) -> Any:
    """A GetNodeStatsReply like Ray 2.60's for a driver and an actor (see test_memory_ray.py)."""
    from ray.core.generated import common_pb2, node_manager_pb2

    finished = common_pb2.TaskStatus.Value("FINISHED")
    driver = common_pb2.CoreWorkerStats(
        pid=100,
        ip_address="127.0.0.1",
        worker_type=common_pb2.WorkerType.Value("DRIVER"),
        worker_id=DRIVER_WORKER_ID,
        job_id=bytes.fromhex("01000000"),
        actor_id=b"\xff" * 16,
        objects_total=7 if truncate else 5,
        object_refs=[
            common_pb2.ObjectRefInfo(
                object_id=PUT,
                object_size=5_000_254,
                local_ref_count=1,
                pinned_in_memory=True,
                task_status=finished,
                contained_in_owned=[OUTER],
            ),
            common_pb2.ObjectRefInfo(
                object_id=RETURN,
                object_size=2_000_251,
                submitted_task_ref_count=1,
                task_status=common_pb2.TaskStatus.Value("RUNNING"),
                attempt_number=1,
                call_site="(task call) | job.py:<module>:9",
            ),
            common_pb2.ObjectRefInfo(object_id=HANDLE, object_size=-1, local_ref_count=1),
            common_pb2.ObjectRefInfo(object_id=LINEAGE_ONLY, object_size=10, task_status=finished),
            common_pb2.ObjectRefInfo(object_id=NIL, local_ref_count=1),
        ],
    )
    actor = common_pb2.CoreWorkerStats(
        pid=200,
        ip_address="127.0.0.1",
        worker_type=common_pb2.WorkerType.Value("WORKER"),
        worker_id=b"\x22" * 28,
        job_id=bytes.fromhex("01000000"),
        actor_id=bytes.fromhex("8f6f2a4d1623718ddc93785001000000"),
        objects_total=1,
        object_refs=[
            common_pb2.ObjectRefInfo(
                object_id=PUT,
                object_size=5_000_254,
                local_ref_count=1,
                call_site="(deserialize actor task arg) job.Holder.hold",
            ),
        ],
    )
    stats = node_manager_pb2.GetNodeStatsReply(core_workers_stats=[driver, actor])
    stats.store_stats.object_store_bytes_used = 7_000_505
    stats.store_stats.object_store_bytes_avail = 2_000_000_000
    stats.store_stats.spilled_bytes_total = 123
    stats.store_stats.num_local_objects = 2
    stats.store_stats.object_pulls_queued = True
    return stats


def test_protobuf_records_become_reference_records(api: _RayApi) -> None:
    node, refs = _node(api, gcs_node(), reply())
    by_key = {(r.object_id, r.pid): r for r in refs}
    # The lineage-only entry and the nil id are skipped, as `ray memory` does.
    assert set(by_key) == {
        (PUT.hex(), 100),
        (RETURN.hex(), 100),
        (HANDLE.hex(), 100),
        (PUT.hex(), 200),
    }
    put = by_key[(PUT.hex(), 100)]
    assert put.reference_type is ReferenceType.PINNED_IN_MEMORY
    assert (put.size_bytes, put.owned, put.owner_pid, put.task_status) == (
        5_000_254,
        True,
        100,
        "FINISHED",
    )
    assert (put.worker_type, put.job_id, put.actor_id) == ("DRIVER", "01000000", None)
    assert put.contained_in == (OUTER.hex(),)
    assert put.call_site is None
    pending = by_key[(RETURN.hex(), 100)]
    assert pending.reference_type is ReferenceType.USED_BY_PENDING_TASK
    assert (pending.task_status, pending.attempt) == ("RUNNING", 2)
    assert pending.call_site == "(task call) | job.py:<module>:9"
    handle = by_key[(HANDLE.hex(), 100)]
    assert handle.reference_type is ReferenceType.ACTOR_HANDLE
    assert (handle.owned, handle.size_bytes) == (None, None)
    borrowed = by_key[(PUT.hex(), 200)]
    assert (borrowed.owned, borrowed.owner_pid, borrowed.task_status) == (False, None, None)
    assert borrowed.actor_id == "8f6f2a4d1623718ddc93785001000000"
    assert (node.node_id, node.node_ip, node.node_name, node.workers) == (
        "ab" * 28,
        "127.0.0.1",
        "head",
        2,
    )
    assert node.store is not None
    assert (node.store.used_bytes, node.store.capacity_bytes) == (7_000_505, 2_000_000_000)
    assert (node.store.spilled_bytes, node.store.num_objects, node.store.pulls_queued) == (
        123,
        2,
        True,
    )
    assert node.truncated_pids == ()


def test_a_cut_reference_list_is_noted(api: _RayApi) -> None:
    node, _refs = _node(api, gcs_node(), reply(truncate=True))
    assert node.truncated_pids == (100,)


def test_a_node_that_failed_is_kept_with_its_error(api: _RayApi) -> None:
    node, refs = _node(api, gcs_node(), ConnectionRefusedError("Connection refused"))
    assert (node.error, node.store, refs) == ("Connection refused", None, [])
    assert not node.reachable


def test_a_changed_reply_shape_is_an_attribute_error(api: _RayApi) -> None:
    class Renamed:
        core_workers_stats = [object()]

    with pytest.raises(AttributeError):
        _node(api, gcs_node(), Renamed())


def test_a_missing_private_module_says_ray_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray._private.grpc_utils", None)
    with pytest.raises(RayInternalsChanged, match=r"no longer has the private API .*2\.60"):
        _ray_api()


def test_an_address_is_a_gcs_address_or_a_dashboard_url() -> None:
    with pytest.raises(ClusterUnavailable, match=r"GCS address HOST:PORT .* or its dashboard URL"):
        collect_snapshot("ftp://127.0.0.1:8265")


def test_a_refused_port_fails_at_once() -> None:
    started = time.monotonic()
    with pytest.raises(ClusterUnavailable, match="nothing listens on that port"):
        collect_snapshot(f"127.0.0.1:{free_port()}", timeout=5)
    assert time.monotonic() - started < 5


def test_a_dashboard_url_nobody_serves_fails_at_once() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(ClusterUnavailable, match="nothing listens on that port"):
        collect_snapshot(url, timeout=5)
    assert time.monotonic() - started < 5
