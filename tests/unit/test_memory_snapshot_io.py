"""Snapshot files: round trips, and one clear error for every way a file can be wrong."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from rayobs.memory import (
    GroupBy,
    NodeMemory,
    SnapshotFileError,
    analyze,
    leak_hints,
    load_snapshot,
    snapshot_to_dict,
)
from rayobs.memory._render import report_to_dict, to_json
from tests.unit._memory_fixtures import NODE_B, snapshot


def write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document))
    return path


def test_round_trip_keeps_everything(tmp_path: Path) -> None:
    nodes = (
        NodeMemory("a" * 56, "127.0.0.1", "head", None, workers=2, truncated_pids=(7,)),
        NodeMemory(NODE_B, "127.0.0.2", "w", None, error="Connection refused"),
    )
    original = snapshot(nodes=nodes)
    path = tmp_path / "a.json"
    path.write_text(to_json(snapshot_to_dict(original)))
    assert load_snapshot(path) == original


def test_a_full_dump_is_a_snapshot_too(tmp_path: Path) -> None:
    original = snapshot()
    report = analyze(original, GroupBy.OWNER)
    path = tmp_path / "dump.json"
    path.write_text(to_json(report_to_dict(report, leak_hints(original))))
    loaded = load_snapshot(path)
    assert sorted(loaded.refs, key=repr) == sorted(original.refs, key=repr)


def test_a_dump_cut_with_top_is_refused(tmp_path: Path) -> None:
    original = snapshot()
    document = report_to_dict(analyze(original, top=1), leak_hints(original))
    with pytest.raises(SnapshotFileError, match="only the top 1 references per group"):
        load_snapshot(write(tmp_path / "top.json", document))


def test_stats_only_output_is_refused(tmp_path: Path) -> None:
    document = snapshot_to_dict(snapshot())
    del document["refs"]
    document.pop("top")
    with pytest.raises(SnapshotFileError, match="store stats only"):
        load_snapshot(write(tmp_path / "stats.json", document))


def good() -> dict[str, Any]:
    return snapshot_to_dict(snapshot())


def broken(change: str) -> Any:
    document = good()
    if change == "not an object":
        return [document]
    if change == "other kind":
        return {**document, "kind": "something.else"}
    if change == "future version":
        return {**document, "version": 99}
    if change == "refs not a list":
        return {**document, "refs": {"a": 1}}
    if change == "missing field":
        del document["refs"][3]["pid"]
    elif change == "wrong type":
        document["refs"][0]["size_bytes"] = "big"
    elif change == "bool as count":
        document["refs"][0]["local_ref_count"] = True
    elif change == "unknown reference type":
        document["refs"][0]["reference_type"] = "HELD_BY_GREMLINS"
    elif change == "record not an object":
        document["refs"][0] = "00ff"
    elif change == "contained_in with numbers":
        document["refs"][0]["contained_in"] = [1, 2]
    elif change == "store missing field":
        del document["store"]["used_bytes"]
    elif change == "node pids not ints":
        document["nodes"][0]["truncated_pids"] = ["x"]
    return document


CASES = {
    "not an object": "is not a rayobs memory snapshot",
    "other kind": "is not a rayobs memory snapshot",
    "future version": "has snapshot version 99",
    "refs not a list": "'refs' must be a list",
    "missing field": "refs[3]: missing 'pid'",
    "wrong type": "refs[0]: 'size_bytes' must be int or null, got 'big'",
    "bool as count": "refs[0]: 'local_ref_count' must be int, got True",
    "unknown reference type": "refs[0]: unknown reference_type 'HELD_BY_GREMLINS'",
    "record not an object": "refs[0] must be an object",
    "contained_in with numbers": "'contained_in' must list object ids",
    "store missing field": "store: missing 'used_bytes'",
    "node pids not ints": "nodes[0]: 'truncated_pids' must list process ids",
}


@pytest.mark.parametrize("change", list(CASES))
def test_malformed_documents_say_what_is_wrong(tmp_path: Path, change: str) -> None:
    path = write(tmp_path / "bad.json", broken(change))
    with pytest.raises(SnapshotFileError) as error:
        load_snapshot(path)
    message = str(error.value)
    assert CASES[change] in message
    assert "\n" not in message
    assert str(path) in message


def test_not_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"kind": "rayobs.memory",\n oops')
    with pytest.raises(SnapshotFileError, match=r"is not JSON \(.* at line 2 column 2\)"):
        load_snapshot(path)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(SnapshotFileError, match=r"cannot read .*: No such file or directory"):
        load_snapshot(tmp_path / "missing.json")
    with pytest.raises(SnapshotFileError, match="Is a directory"):
        load_snapshot(tmp_path)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(SnapshotFileError, match="cannot read"):
        load_snapshot(binary)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_a_file_without_read_permission(tmp_path: Path) -> None:
    path = write(tmp_path / "locked.json", good())
    path.chmod(0)
    with pytest.raises(SnapshotFileError, match="Permission denied"):
        load_snapshot(path)


def test_to_json_puts_one_reference_per_line() -> None:
    text = to_json(good())
    lines = text.splitlines()
    ref_lines = [line for line in lines if line.startswith('    {"object_id"')]
    assert len(ref_lines) == len(snapshot().refs)
    assert json.loads(text) == good()
    assert to_json({}) == "{}"
    assert json.loads(to_json({"refs": []})) == {"refs": []}
