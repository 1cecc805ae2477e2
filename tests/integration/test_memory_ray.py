"""``rayobs memory`` against the session's real Ray cluster, with references made to measure.

The test process is the driver: it puts objects of known sizes, keeps a task's
return, captures a reference inside another object, keeps a large array
mapped, lends a reference to a live actor and keeps one borrowed from an actor
that is then killed. The CLI runs as a separate process, as a user would run
it, and its JSON must show each of them as Ray 2.60 reports it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.harness import RayCluster, wait_until

pytestmark = pytest.mark.ray

MB = 10**6
SMALL_COUNT = 25
BIG_BYTES = 20 * MB  # a numpy array kept mapped by the driver
RETURN_BYTES = 3 * MB  # a task's return value
INNER_BYTES = 1 * MB  # referenced only from inside another object
ORPHAN_BYTES = 300_000  # borrowed from an actor that is killed
SLACK = 4096  # serialization adds a header to each value


def rayobs(cluster: RayCluster, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {**cluster.env, **extra_env}
    return subprocess.run(
        [sys.executable, "-m", "rayobs", "memory", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def dump(cluster: RayCluster, *args: str) -> dict[str, Any]:
    result = rayobs(cluster, "--address", cluster.address, "--format", "json", *args)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


@dataclass
class Held:
    """The references the driver holds, by role, and the processes involved."""

    small: list[str]
    big: str
    ret: str
    inner: str
    outer: str
    orphan: str
    keeper_pid: int
    handles: list[Any]  # keeps the objects alive for the module's duration


@pytest.fixture(scope="module")
def held(ray_driver: RayCluster) -> Iterator[Held]:
    import numpy as np
    import ray

    @ray.remote
    def make(nbytes: int) -> bytes:
        return b"\1" * nbytes

    @ray.remote(num_cpus=0)
    class Keeper:
        def __init__(self) -> None:
            self.kept: list[Any] = []

        def hold(self, refs: list[Any]) -> int:
            self.kept.extend(refs)
            return os.getpid()

        def lend(self, nbytes: int) -> list[Any]:
            return [ray.put(b"\3" * nbytes)]

    small = [ray.put(i) for i in range(SMALL_COUNT)]
    big = ray.put(np.zeros(BIG_BYTES, dtype=np.uint8))
    view = ray.get(big)  # zero-copy: the driver now pins the buffer
    ret = make.remote(RETURN_BYTES)
    ray.wait([ret], timeout=60)
    inner = ray.put(b"\2" * INNER_BYTES)
    outer = ray.put([inner])
    inner_id = inner.hex()
    del inner  # from now on only `outer` keeps it alive
    keeper = Keeper.remote()
    keeper_pid = ray.get(keeper.hold.remote([ret]), timeout=60)
    doomed = Keeper.remote()
    (orphan,) = ray.get(doomed.lend.remote(ORPHAN_BYTES), timeout=60)
    ray.kill(doomed)
    held = Held(
        small=[r.hex() for r in small],
        big=big.hex(),
        ret=ret.hex(),
        inner=inner_id,
        outer=outer.hex(),
        orphan=orphan.hex(),
        keeper_pid=keeper_pid,
        handles=[small, big, view, ret, outer, orphan, keeper],
    )
    # The kill is asynchronous: wait until no live process owns the orphan any more.
    wait_until(lambda: _owner_gone(ray_driver, held.orphan), 30, "the killed actor's objects to go")
    yield held
    ray.kill(keeper)
    held.handles.clear()


def _owner_gone(cluster: RayCluster, object_id: str) -> bool:
    records = [r for r in dump(cluster)["refs"] if r["object_id"] == object_id]
    return bool(records) and all(r["owner_pid"] is None for r in records)


@pytest.fixture(scope="module")
def document(held: Held, ray_driver: RayCluster) -> dict[str, Any]:
    return dump(ray_driver, "--group-by", "reference-type", "--large-ref", "10MB")


def records(document: dict[str, Any], object_id: str) -> dict[int, dict[str, Any]]:
    """The records of one object, by holding pid."""
    return {r["pid"]: r for r in document["refs"] if r["object_id"] == object_id}


def test_puts_of_known_sizes(held: Held, document: dict[str, Any]) -> None:
    me = os.getpid()
    for object_id in held.small:
        record = records(document, object_id)[me]
        assert record["reference_type"] == "LOCAL_REFERENCE"
        assert 0 < record["size_bytes"] < 100
        assert (record["owned"], record["owner_pid"], record["task_status"]) == (
            True,
            me,
            "FINISHED",
        )
        assert (record["worker_type"], record["node_ip"]) == ("DRIVER", "127.0.0.1")
        assert record["call_site"] is None  # the session cluster does not record them
    big = records(document, held.big)[me]
    assert big["reference_type"] == "PINNED_IN_MEMORY"
    assert big["pinned_in_memory"] is True
    assert BIG_BYTES <= big["size_bytes"] <= BIG_BYTES + SLACK


def test_a_task_return_and_its_borrower(held: Held, document: dict[str, Any]) -> None:
    me = os.getpid()
    by_pid = records(document, held.ret)
    assert set(by_pid) == {me, held.keeper_pid}
    mine, lent = by_pid[me], by_pid[held.keeper_pid]
    assert RETURN_BYTES <= mine["size_bytes"] <= RETURN_BYTES + SLACK
    assert (mine["reference_type"], mine["owned"], mine["task_status"]) == (
        "LOCAL_REFERENCE",
        True,
        "FINISHED",
    )
    assert (lent["owned"], lent["owner_pid"], lent["task_status"]) == (False, me, None)
    assert lent["worker_type"] == "WORKER" and lent["actor_id"]
    assert "Keeper.hold" in lent["call_site"]  # Ray's note on a deserialized argument


def test_a_reference_captured_in_another_object(held: Held, document: dict[str, Any]) -> None:
    inner = records(document, held.inner)[os.getpid()]
    assert inner["reference_type"] == "CAPTURED_IN_OBJECT"
    assert inner["contained_in"] == [held.outer]
    assert inner["local_ref_count"] == 0
    assert INNER_BYTES <= inner["size_bytes"] <= INNER_BYTES + SLACK


def test_groups_count_references_and_objects(held: Held, document: dict[str, Any]) -> None:
    groups = {g["key"]: g for g in document["groups"]}
    assert groups["LOCAL_REFERENCE"]["refs"] >= SMALL_COUNT + 2
    assert groups["PINNED_IN_MEMORY"]["bytes"] >= BIG_BYTES
    assert groups["CAPTURED_IN_OBJECT"]["objects"] >= 1
    assert groups["ACTOR_HANDLE"]["unknown_sizes"] >= 1  # the keeper's handle
    assert sum(g["refs"] for g in document["groups"]) == len(document["refs"])
    assert document["total"]["refs"] == len(document["refs"])
    assert document["complete"] is True


def test_store_stats(held: Held, document: dict[str, Any]) -> None:
    store = document["store"]
    plasma = BIG_BYTES + RETURN_BYTES + INNER_BYTES
    assert store["used_bytes"] >= plasma
    assert store["capacity_bytes"] > store["used_bytes"]
    assert store["num_objects"] >= SMALL_COUNT + 3  # every ray.put lands in the store
    assert store["created_bytes_total"] >= plasma
    (node,) = document["nodes"]
    assert node["store"] == store
    assert node["error"] is None


def test_leak_hints(held: Held, document: dict[str, Any]) -> None:
    hints = {hint["kind"]: hint for hint in document["hints"]}
    dead = hints["dead_owner"]
    assert held.orphan in dead["object_ids"]
    assert dead["bytes"] >= ORPHAN_BYTES
    orphan = records(document, held.orphan)[os.getpid()]
    assert (orphan["owned"], orphan["owner_pid"]) == (False, None)
    captured = hints["captured_in_object"]
    assert held.inner in captured["object_ids"]
    assert any(held.outer in detail for detail in captured["details"])
    large = hints["large_driver_reference"]
    assert large["object_ids"][0] == held.big
    assert "RAY_record_ref_creation_sites=1" in hints["call_sites_not_recorded"]["advice"]
    assert "top_call_sites" not in hints  # no creation site was recorded


def test_table_and_stats_only(held: Held, ray_driver: RayCluster) -> None:
    table = rayobs(ray_driver, "--address", ray_driver.address, "--top", "3", "--units", "MB")
    assert table.returncode == 0, table.stderr
    assert re.search(r"^--- node 127\.0\.0\.1 \([0-9a-f]{8}\): ", table.stdout, re.MULTILINE)
    assert held.big in table.stdout  # the largest reference comes first
    assert "[dead_owner]" in table.stdout
    stats = rayobs(ray_driver, "--address", ray_driver.address, "--stats-only", "--format", "json")
    assert stats.returncode == 0, stats.stderr
    document = json.loads(stats.stdout)
    assert "refs" not in document
    assert document["store"]["used_bytes"] >= BIG_BYTES


def test_the_dashboard_url_names_the_same_cluster(held: Held, ray_driver: RayCluster) -> None:
    by_gcs = dump(ray_driver, "--stats-only")
    result = rayobs(
        ray_driver, "--address", ray_driver.dashboard_url, "--stats-only", "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    by_dashboard = json.loads(result.stdout)
    assert by_dashboard["address"] == by_gcs["address"] == ray_driver.address
    assert [n["node_id"] for n in by_dashboard["nodes"]] == [n["node_id"] for n in by_gcs["nodes"]]


LEAKY_DRIVER = textwrap.dedent(
    """
    import os, sys
    import ray

    def leaky_cache(count, nbytes):
        cache = []
        for _ in range(count):  # a loop, not a comprehension: the frame is this function
            cache.append(ray.put(b"\\0" * nbytes))
        return cache

    ray.init(address=os.environ["RAYOBS_TEST_ADDRESS"], logging_level="WARNING")
    cache = leaky_cache(40, 100_000)
    print(os.getpid(), flush=True)
    sys.stdin.read()  # hold the references until the test closes stdin
    """
)


def test_snapshot_diff_and_call_sites(held: Held, ray_driver: RayCluster, tmp_path: Path) -> None:
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    taken = rayobs(ray_driver, "snapshot", "--address", ray_driver.address, "-o", str(before))
    assert taken.returncode == 0, taken.stderr
    script = tmp_path / "leaky.py"
    script.write_text(LEAKY_DRIVER)
    env = {
        **ray_driver.env,
        "RAY_record_ref_creation_sites": "1",
        "RAYOBS_TEST_ADDRESS": ray_driver.address,
    }
    driver = subprocess.Popen(
        [sys.executable, str(script)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert driver.stdout is not None
        started = time.monotonic()
        line = driver.stdout.readline()
        assert line.strip().isdigit(), (
            f"the leaky driver did not start ({time.monotonic() - started:.0f}s)"
        )
        leaky_pid = int(line)
        taken = rayobs(ray_driver, "--address", ray_driver.address, "snapshot", "-o", str(after))
        assert taken.returncode == 0, taken.stderr
        grouped = dump(ray_driver, "--group-by", "callsite", "--top", "1")
    finally:
        driver.communicate(input="", timeout=60)
    result = rayobs(ray_driver, "diff", str(before), str(after), "--format", "json")
    assert result.returncode == 0, result.stderr
    changes = json.loads(result.stdout)
    assert changes["new_objects"] >= 40
    grew = changes["by_callsite"][0]
    assert "leaky.py:leaky_cache" in grew["key"]
    assert grew["delta_refs"] == 40
    assert 40 * 100_000 <= grew["delta_bytes"] <= 40 * (100_000 + SLACK)
    owners = {row["key"]: row for row in changes["by_owner"]}
    assert owners[f"pid {leaky_pid} on 127.0.0.1"]["delta_refs"] == 40
    hints = {hint["kind"]: hint for hint in grouped["hints"]}
    assert "leaky.py:leaky_cache" in hints["top_call_sites"]["details"][0]
    site = next(g for g in grouped["groups"] if "leaky.py:leaky_cache" in g["key"])
    assert (site["refs"], site["listed"]) == (40, 1)
    text = rayobs(ray_driver, "diff", str(before), str(after), "--top", "2")
    assert "leaky.py:leaky_cache" in text.stdout.split("By reference type:")[0]


def test_a_wrong_token_is_one_line(ray_driver: RayCluster, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong_token"
    wrong.write_text("0" * 64)
    started = time.monotonic()
    result = rayobs(ray_driver, "--address", ray_driver.address, RAY_AUTH_TOKEN_PATH=str(wrong))
    assert time.monotonic() - started < 15
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"rayobs: error: the cluster at {ray_driver.address} refused our token")
