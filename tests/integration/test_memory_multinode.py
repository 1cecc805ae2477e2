"""``rayobs memory`` on the real multi-node cluster: references and store stats per node.

This module adds two worker nodes of its own to ``multinode_cluster`` (the
shared ``limited`` and ``monitor`` nodes may be dead by now). A driver
subprocess places one actor on the head and on each added node; each actor
``ray.put``s objects of known sizes and keeps them; the driver puts its own
and borrows every object of the actor on the second added node. Then that
node's raylet is killed: ``rayobs memory`` must still answer at once, report
the surviving nodes as before, and say that the dead node's objects are lost.
The CLI runs as a separate process, as a user would run it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.multinode import MultiNodeCluster

pytestmark = pytest.mark.ray

NODE_A, NODE_B = "rayobs_memory_a", "rayobs_memory_b"  # custom resources of the added nodes
SIZES = {
    "head": [1_500_000],
    NODE_A: [2_000_000, 1_000_000],
    NODE_B: [3_000_000, 500_000, 700_000],
}
DRIVER_SIZES = [4_000_000, 250_000]
SLACK = 4096  # serialization adds a header to each value
ANSWER_WITHIN_S = 10.0  # rayobs memory's budget is 30 s; a dead node must not eat it


def rayobs(cluster: MultiNodeCluster, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """``rayobs memory --address ... ARGS`` as a user runs it, and how long it took."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "rayobs", "memory", "--address", cluster.address, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=cluster.env,
        stdin=subprocess.DEVNULL,
    )
    return result, time.monotonic() - started


def dump(cluster: MultiNodeCluster, *args: str) -> dict[str, Any]:
    result, _took = rayobs(cluster, "--format", "json", *args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


@dataclass
class Held:
    """What the driver reported: per role, the holder's pid, node and object ids."""

    seen: dict[str, dict[str, Any]]
    node_ids: dict[str, str]  # role -> node id, as the cluster started them

    def objects(self, role: str) -> list[str]:
        return list(self.seen[role]["objects"])


@pytest.fixture(scope="module")
def held(
    multinode_cluster: MultiNodeCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Held]:
    cluster = multinode_cluster
    for role in (NODE_A, NODE_B):
        cluster.add_node(role)
    placed = [f"{role}={','.join(map(str, sizes))}" for role, sizes in SIZES.items()]
    own = ",".join(map(str, DRIVER_SIZES))
    command = [sys.executable, "-m", "tests.integration._memory_driver", cluster.address]
    errors = tmp_path_factory.mktemp("memory-driver") / "stderr"
    with errors.open("w") as sink:
        driver = subprocess.Popen(
            [*command, *placed, "--lend", NODE_B, "--own", own],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=sink,
            text=True,
            env=cluster.env,
        )
    watchdog = threading.Timer(180, driver.kill)  # a driver that never gets ready is ended
    watchdog.start()
    try:
        ready = None
        assert driver.stdout is not None
        for line in driver.stdout:  # Ray also prints its own lines to the driver's stdout
            if line.startswith("READY "):
                ready = json.loads(line.removeprefix("READY "))
                break
        watchdog.cancel()
        if ready is None:
            driver.kill()
            driver.wait(timeout=30)
            pytest.fail(f"the driver ended before it was ready:\n{errors.read_text()[-3000:]}")
        # What Ray prints to the driver's stdout later (a node's death) must not fill the pipe.
        threading.Thread(target=driver.stdout.read, daemon=True).start()
        yield Held(ready, {role: cluster.node_ids[role] for role in SIZES})
    finally:
        watchdog.cancel()
        if driver.poll() is None:
            assert driver.stdin is not None
            driver.stdin.close()  # the driver exits, dropping every reference
            try:
                driver.wait(timeout=30)
            except subprocess.TimeoutExpired:
                driver.kill()
                driver.wait(timeout=30)


@pytest.fixture(scope="module")
def alive(held: Held, multinode_cluster: MultiNodeCluster) -> dict[str, Any]:
    """The JSON report while every node of this module is alive."""
    return dump(multinode_cluster)


@pytest.fixture(scope="module")
def alive_text(held: Held, multinode_cluster: MultiNodeCluster) -> str:
    result, _took = rayobs(multinode_cluster, "--top", "3")
    assert result.returncode == 0, result.stderr
    return result.stdout


def by_node(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["node_id"]: entry for entry in document["by_node"]}


def records(document: dict[str, Any], object_id: str) -> list[dict[str, Any]]:
    return [r for r in document["refs"] if r["object_id"] == object_id]


def node_row(text: str, node_id: str) -> list[str]:
    """The cells of a node's row in the text report's per-node table."""
    label = f"127.0.0.1 ({node_id[:8]})"
    rows = [line.strip() for line in text.splitlines() if line.strip().startswith(label)]
    table_rows = [
        re.split(r"\s{2,}", row) for row in rows if "  " in row[len(label) : len(label) + 3]
    ]
    assert len(table_rows) == 1, (label, rows)
    return table_rows[0]


def test_every_holder_runs_where_it_was_placed(held: Held) -> None:
    for role in SIZES:
        assert held.seen[role]["node_id"] == held.node_ids[role], role
    assert held.seen["driver"]["node_id"] == held.node_ids["head"]


@pytest.mark.parametrize("role", [NODE_A, NODE_B])
def test_each_added_node_holds_and_stores_exactly_its_actors_objects(
    held: Held, alive: dict[str, Any], role: str
) -> None:
    entry = by_node(alive)[held.node_ids[role]]
    assert (entry["state"], entry["error"], entry["death"]) == ("ALIVE", None, None)
    count, size = len(SIZES[role]), sum(SIZES[role])
    assert (entry["held"]["refs"], entry["held"]["objects"]) == (count, count)
    assert (entry["owned"]["refs"], entry["owned"]["objects"]) == (count, count)
    assert size <= entry["owned"]["bytes"] <= size + count * SLACK
    assert entry["held"]["bytes"] == entry["owned"]["bytes"]
    assert entry["lost"] == {"refs": 0, "objects": 0, "bytes": 0, "unknown_sizes": 0}
    store = entry["store"]
    assert (store["num_objects"], store["num_primary_copies"]) == (count, count)
    assert store["primary_copy_bytes"] == store["used_bytes"] == entry["owned"]["bytes"]
    holder = held.seen[role]["pid"]
    for object_id in held.objects(role):
        owners = [r for r in records(alive, object_id) if r["owned"]]
        assert [(r["pid"], r["node_id"]) for r in owners] == [(holder, held.node_ids[role])]


def test_the_head_holds_the_drivers_references_and_the_borrowed_ones(
    held: Held, alive: dict[str, Any]
) -> None:
    head = held.node_ids["head"]
    entry = by_node(alive)[head]
    driver = held.seen["driver"]
    ours = [*driver["objects"], *held.objects("head")]
    owned_here = {r["object_id"] for r in alive["refs"] if r["owned"] and r["node_id"] == head}
    assert set(ours) <= owned_here
    assert entry["owned"]["objects"] == len(owned_here) >= 3
    assert entry["store"]["num_primary_copies"] >= len(ours)
    assert entry["store"]["primary_copy_bytes"] >= sum(DRIVER_SIZES) + sum(SIZES["head"])
    for object_id in driver["borrowed"]:
        (borrowed,) = [r for r in records(alive, object_id) if r["pid"] == driver["pid"]]
        assert borrowed["owned"] is False
        assert borrowed["node_id"] == head
        assert (borrowed["owner_pid"], borrowed["owner_node_id"]) == (
            held.seen[NODE_B]["pid"],
            held.node_ids[NODE_B],
        )


def test_grouping_by_node_tells_nodes_on_one_ip_apart(held: Held, alive: dict[str, Any]) -> None:
    groups = {group["key"]: group for group in alive["groups"]}
    nodes = by_node(alive)
    for role, node_id in held.node_ids.items():
        group = groups[f"127.0.0.1 ({node_id[:8]})"]
        assert (group["refs"], group["objects"], group["bytes"]) == (
            nodes[node_id]["held"]["refs"],
            nodes[node_id]["held"]["objects"],
            nodes[node_id]["held"]["bytes"],
        ), role
    assert sum(group["refs"] for group in alive["groups"]) == alive["total"]["refs"]


def test_text_report_has_a_row_per_node(held: Held, alive: dict[str, Any], alive_text: str) -> None:
    assert re.search(r"^Nodes: \d+ alive", alive_text, re.MULTILINE), alive_text
    for role in (NODE_A, NODE_B):
        entry = by_node(alive)[held.node_ids[role]]
        row = node_row(alive_text, held.node_ids[role])
        count = str(len(SIZES[role]))
        # NODE STATE WORKERS REFS OBJECTS BYTES OWNED OWNED-BYTES STORE-USED IN-STORE ...
        assert row[1] == "ALIVE"
        assert (row[3], row[4], row[6], row[9]) == (count, count, count, count), row
        assert row[2] == str(entry["workers"])


def test_a_node_that_dies_mid_way(
    held: Held, alive: dict[str, Any], alive_text: str, multinode_cluster: MultiNodeCluster
) -> None:
    cluster = multinode_cluster
    doomed = held.node_ids[NODE_B]
    survivors = [held.node_ids["head"], held.node_ids[NODE_A]]
    borrowed = held.seen["driver"]["borrowed"]
    lost_bytes = by_node(alive)[doomed]["owned"]["bytes"]
    cluster.kill_node(NODE_B)

    # At once, before the GCS has noticed: the raylet refuses, nothing hangs.
    result, took = rayobs(cluster, "--format", "json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert took < ANSWER_WITHIN_S, took
    early = json.loads(result.stdout)
    entry = by_node(early)[doomed]
    assert (entry["state"], entry["store"]) in (("ALIVE", None), ("DEAD", None)), entry
    assert entry["error"] or entry["death"], entry  # named, never silently left out
    _same_survivors(alive, early, survivors)

    cluster.wait_node_dead(NODE_B)
    after = dump(cluster)
    entry = by_node(after)[doomed]
    assert entry["state"] == "DEAD"
    assert entry["death"].startswith("UNEXPECTED_TERMINATION"), entry
    assert entry["died_at"] and entry["error"] is None and entry["store"] is None
    count = len(SIZES[NODE_B])
    assert entry["lost"] == {
        "refs": count,
        "objects": count,
        "bytes": lost_bytes,
        "unknown_sizes": 0,
    }
    assert after["complete"] is True  # every alive node was read
    for object_id in borrowed:
        (record,) = records(after, object_id)
        assert record["pid"] == held.seen["driver"]["pid"]
        assert (record["owner_pid"], record["owner_node_id"]) == (None, doomed)
    (hint,) = [h for h in after["hints"] if h["kind"] == "dead_owner"]
    assert (hint["count"], hint["bytes"]) == (count, lost_bytes)
    assert any(f"({doomed[:8]}), dead since" in detail for detail in hint["details"]), hint
    _same_survivors(alive, after, survivors)
    assert after["store"]["used_bytes"] == alive["store"]["used_bytes"] - lost_bytes

    result, took = rayobs(cluster)
    assert result.returncode == 0 and took < ANSWER_WITHIN_S, result.stderr
    text = result.stdout
    assert node_row(text, doomed)[1] == "DEAD"
    gone = [
        line for line in text.splitlines() if line.startswith(f"  127.0.0.1 ({doomed[:8]}) dead")
    ]
    assert len(gone) == 1, text
    assert "UNEXPECTED_TERMINATION" in gone[0]
    assert "its object store and the references its processes held are gone" in gone[0]
    assert f"; {count} references on other nodes" in gone[0] and "OwnerDiedError" in gone[0]
    stats, _took = rayobs(cluster, "--stats-only")
    assert stats.returncode == 0, stats.stderr
    assert f"node 127.0.0.1 ({doomed[:8]}): dead since" in stats.stdout


def _same_survivors(before: dict[str, Any], after: dict[str, Any], node_ids: list[str]) -> None:
    """The surviving nodes' own references and stores did not move."""
    old, new = by_node(before), by_node(after)
    for node_id in node_ids:
        assert new[node_id]["state"] == "ALIVE" and new[node_id]["error"] is None
        assert new[node_id]["owned"] == old[node_id]["owned"], node_id
        assert (
            new[node_id]["store"]["primary_copy_bytes"]
            == old[node_id]["store"]["primary_copy_bytes"]
        ), node_id
