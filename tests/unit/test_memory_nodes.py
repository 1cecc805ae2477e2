"""Nodes in a memory report: per-node tallies, dead and unread nodes, their text and JSON.

The cluster here: nodes A and B alive, C dead since 16:00 with an actor that
had lent three objects to the actor on A (owner traced to C by the collector),
and D, an older dead node that took nothing with it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from rayobs.memory import NodeMemory, analyze, leak_hints
from rayobs.memory._analysis import per_node
from rayobs.memory._collect import _creator_actor, _dead_node, _ray_api, _RayApi
from rayobs.memory._render import DEAD_NODES_SHOWN, nodes_to_text, report_to_dict, to_json
from rayobs.memory._snapshot_io import load_snapshot, snapshot_to_dict
from tests.unit._memory_fixtures import NODE_A, NODE_B, borrowed, incident_refs, snapshot, store

NODE_C = "c" * 56
NODE_D = "d" * 56
ACTOR_C = "3c3c3c3c3c3c3c3c3c3c3c3c" + "01000000"
LENT = [f"00{i:014x}{ACTOR_C}0{i}000000" for i in range(1, 4)]
DEATH = "UNEXPECTED_TERMINATION: health check failed due to missing too many heartbeats"


def dead(node_id: str, died_at: str, death: str = DEATH) -> NodeMemory:
    return NodeMemory(
        node_id, "127.0.0.1", "127.0.0.1", None, state="DEAD", death=death, died_at=died_at
    )


def cluster(extra_dead: int = 0) -> Any:
    lost = [borrowed(object_id, size_bytes=1_000_000, owner_node_id=NODE_C) for object_id in LENT]
    nodes = (
        NodeMemory(NODE_A, "127.0.0.1", "head", store(), workers=2),
        NodeMemory(NODE_B, "127.0.0.2", "w", store(used_bytes=0, num_objects=0), workers=1),
        dead(NODE_C, "2026-11-23T16:00:00+00:00"),
        *(
            dead(f"{i:056x}", "2026-11-23T15:00:00+00:00", "EXPECTED_TERMINATION")
            for i in range(extra_dead)
        ),
        dead(NODE_D, "2026-11-23T14:00:00+00:00", "AUTOSCALER_DRAIN_IDLE"),
    )
    return snapshot([*incident_refs(), *lost], nodes=nodes)


def test_per_node_counts_what_each_node_holds_owns_and_lost() -> None:
    summaries = {s.node.node_id: s for s in per_node(cluster())}
    a, b, c, d = (summaries[n] for n in (NODE_A, NODE_B, NODE_C, NODE_D))
    assert (a.held.refs, a.held.objects) == (10, 9)  # the incident's 7, the 3 lent
    assert (a.owned.refs, a.owned.objects, a.owned.bytes) == (4, 4, 150_005_500)
    assert (b.held.refs, b.owned.objects, b.owned.bytes) == (1, 1, 40_000)
    assert (c.held.refs, c.owned.refs) == (0, 0)
    assert (c.lost.refs, c.lost.objects, c.lost.bytes) == (3, 3, 3_000_000)
    assert d.lost.refs == 0
    # The orphan whose owner no actor table placed is lost, but on no node.
    assert sum(s.lost.refs for s in summaries.values()) == 3


def test_a_dead_node_leaves_the_snapshot_complete_an_unread_one_does_not() -> None:
    shot = cluster()
    assert shot.complete
    unread = replace(shot.nodes[1], store=None, error="Connection refused")
    assert not replace(shot, nodes=(shot.nodes[0], unread, *shot.nodes[2:])).complete
    assert not unread.reachable and unread.alive
    assert not shot.nodes[2].reachable and not shot.nodes[2].alive


def test_text_names_the_dead_node_and_what_was_lost_with_it() -> None:
    lines = nodes_to_text(per_node(cluster()))
    assert lines[0].startswith("Nodes: 2 alive, 2 dead")
    header = lines[1].split()
    assert header[:6] == ["NODE", "STATE", "WORKERS", "REFS", "OBJECTS", "BYTES"]
    row_c = next(line for line in lines[2:] if line.startswith("  127.0.0.1 (cccccccc)  "))
    assert row_c.split()[2:4] == ["DEAD", "-"]
    (gone,) = [line for line in lines if line.startswith("  127.0.0.1 (cccccccc) dead")]
    assert gone == (
        f"  127.0.0.1 (cccccccc) dead since 2026-11-23T16:00:00+00:00 ({DEATH}): its object "
        "store and the references its processes held are gone; 3 references on other nodes "
        "(3.00 MB) point at objects owned there: lost, ray.get raises OwnerDiedError"
    )
    (older,) = [line for line in lines if line.startswith("  127.0.0.1 (dddddddd) dead")]
    assert older.endswith("held are gone")


def test_an_unread_node_is_named_with_its_error() -> None:
    shot = cluster()
    unread = replace(shot.nodes[1], store=None, error="Connection refused")
    shot = replace(shot, nodes=(shot.nodes[0], unread, *shot.nodes[2:]))
    lines = nodes_to_text(per_node(shot))
    assert lines[0].startswith("Nodes: 2 alive (1 not read), 2 dead")
    row = next(line for line in lines[2:] if line.startswith("  127.0.0.2 (bbbbbbbb)  "))
    assert row.split()[2:5] == ["NOT", "READ", "-"]
    (unread_line,) = [line for line in lines if line.startswith("  127.0.0.2 (bbbbbbbb) could")]
    assert unread_line == (
        "  127.0.0.2 (bbbbbbbb) could not be read (Connection refused): its references and "
        "store are missing from this report"
    )


def test_references_owned_on_an_unread_node_are_lost_only_if_it_is_gone() -> None:
    shot = cluster()
    owners = replace(shot.nodes[2], state="ALIVE", death=None, died_at=None, error="timed out")
    shot = replace(shot, nodes=(*shot.nodes[:2], owners, *shot.nodes[3:]))
    lines = nodes_to_text(per_node(shot))
    (line,) = [line for line in lines if line.startswith("  127.0.0.1 (cccccccc) could")]
    assert line.endswith(
        "; 3 references on other nodes (3.00 MB) point at objects owned there: lost if the node "
        "is gone (ray.get would raise OwnerDiedError)"
    )


def test_old_dead_nodes_are_cut_but_never_one_that_lost_references() -> None:
    lines = nodes_to_text(per_node(cluster(extra_dead=DEAD_NODES_SHOWN + 2)))
    dead_rows = [line for line in lines if "  DEAD  " in line]
    assert len(dead_rows) == DEAD_NODES_SHOWN
    assert any(line.startswith("  127.0.0.1 (cccccccc)  ") for line in dead_rows)
    assert lines[-1] == "  ... and 4 more dead nodes (--format json)"


def test_json_has_a_record_per_node() -> None:
    shot = cluster()
    document = json.loads(to_json(report_to_dict(analyze(shot), leak_hints(shot))))
    entries = {entry["node_id"]: entry for entry in document["by_node"]}
    assert list(entries) == [NODE_A, NODE_B, NODE_C, NODE_D]
    c = entries[NODE_C]
    assert (c["state"], c["death"], c["died_at"], c["store"]) == (
        "DEAD",
        DEATH,
        "2026-11-23T16:00:00+00:00",
        None,
    )
    assert c["lost"] == {"refs": 3, "objects": 3, "bytes": 3_000_000, "unknown_sizes": 0}
    assert entries[NODE_A]["owned"]["objects"] == 4
    assert entries[NODE_A]["store"]["used_bytes"] == store().used_bytes


def test_the_dead_owner_hint_says_where_the_owners_were() -> None:
    (hint,) = [h for h in leak_hints(cluster()) if h.kind.value == "dead_owner"]
    assert hint.count == 4  # the three lent by C's actor and the incident's orphan
    assert (
        "owners were on node 127.0.0.1 (cccccccc), dead since 2026-11-23T16:00:00+00:00: "
        "3 references, 3.00 MB"
    ) in hint.details


def test_snapshots_keep_node_states_and_owner_nodes(tmp_path: Path) -> None:
    original = cluster()
    path = tmp_path / "s.json"
    path.write_text(to_json(snapshot_to_dict(original)))
    assert load_snapshot(path) == original


def test_snapshots_written_before_node_states_still_load(tmp_path: Path) -> None:
    document = snapshot_to_dict(cluster())
    for node in document["nodes"]:
        for key in ("state", "death", "died_at"):
            del node[key]
    for record in document["refs"]:
        del record["owner_node_id"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(document))
    loaded = load_snapshot(path)
    assert {node.state for node in loaded.nodes} == {"ALIVE"}
    assert {ref.owner_node_id for ref in loaded.refs} == {None}


@pytest.fixture(scope="module")
def api() -> _RayApi:
    return _ray_api()


def test_a_dead_node_from_the_node_table(api: _RayApi) -> None:
    from ray.core.generated import common_pb2, gcs_pb2

    node = gcs_pb2.GcsNodeInfo(
        node_id=bytes.fromhex(NODE_C),
        node_manager_address="127.0.0.1",
        state=gcs_pb2.GcsNodeInfo.GcsNodeState.Value("DEAD"),
        end_time_ms=1_795_449_600_000,
        death_info=common_pb2.NodeDeathInfo(
            reason=common_pb2.NodeDeathInfo.Reason.Value("UNEXPECTED_TERMINATION"),
            reason_message="health check failed due to\n missing too many heartbeats",
        ),
    )
    memory = _dead_node(api, node)
    assert (memory.node_id, memory.node_name, memory.state, memory.store) == (
        NODE_C,
        "127.0.0.1",
        "DEAD",
        None,
    )
    assert memory.death == DEATH
    assert memory.died_at == "2026-11-23T16:00:00+00:00"
    unknown = _dead_node(api, gcs_pb2.GcsNodeInfo(node_id=bytes.fromhex(NODE_D)))
    assert (unknown.death, unknown.died_at) == ("UNSPECIFIED", None)


def test_only_objects_an_actor_created_name_their_creator(api: _RayApi) -> None:
    assert _creator_actor(api, LENT[0]) == ACTOR_C
    assert _creator_actor(api, "00" + "f" * 38 + "0100000001e1f505") is None  # a driver's put
    assert _creator_actor(api, "c8ef45ccd0112571" + "f" * 24 + "0100000001000000") is None
