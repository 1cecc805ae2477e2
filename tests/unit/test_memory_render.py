"""Units and renderers: every ``--units`` member, tables, JSON shapes."""

from __future__ import annotations

import json

import pytest

from rayobs.memory import (
    GroupBy,
    HintKind,
    NodeMemory,
    SortBy,
    Units,
    analyze,
    diff_snapshots,
    leak_hints,
)
from rayobs.memory._render import (
    diff_to_dict,
    diff_to_text,
    report_to_dict,
    report_to_text,
    stats_to_dict,
    stats_to_text,
)
from rayobs.memory._units import format_bytes, format_delta, parse_size
from tests.unit._memory_fixtures import BIG, ORPHAN, ref, snapshot, store

EXPECTED_UNITS = {
    Units.B: "1234567 B",
    Units.KB: "1234.57 KB",
    Units.MB: "1.23 MB",
    Units.GB: "0.00 GB",
    Units.AUTO: "1.23 MB",
}


@pytest.mark.parametrize("units", list(Units), ids=lambda u: u.value)
def test_every_unit(units: Units) -> None:
    assert format_bytes(1_234_567, units) == EXPECTED_UNITS[units]
    assert format_bytes(None, units) == "?"
    assert format_bytes(-1, units) == "?"


@pytest.mark.parametrize(
    ("nbytes", "text"),
    [(0, "0 B"), (999, "999 B"), (1_000, "1.00 KB"), (2_500_000_000, "2.50 GB")],
)
def test_auto_picks_the_largest_unit_that_fits(nbytes: int, text: str) -> None:
    assert format_bytes(nbytes) == text


def test_deltas_are_signed() -> None:
    assert (format_delta(1_500), format_delta(-20), format_delta(0)) == ("+1.50 KB", "-20 B", "0 B")


@pytest.mark.parametrize(
    ("text", "nbytes"),
    [("100MB", 10**8), ("1.5GB", 15 * 10**8), ("2kb", 2_000), ("7", 7), (" 3 M ", 3 * 10**6)],
)
def test_parse_size(text: str, nbytes: int) -> None:
    assert parse_size(text) == nbytes


@pytest.mark.parametrize("text", ["", "MB", "12XB", "-5MB", "1e3"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)


def test_table_shows_groups_rows_store_and_hints() -> None:
    shot = snapshot()
    text = report_to_text(analyze(shot, GroupBy.NODE, SortBy.SIZE), leak_hints(shot))
    lines = text.splitlines()
    assert (
        lines[0] == "Object references of 127.0.0.1:6379 at 2026-11-23T16:00:00+00:00 (Ray 2.60.0)"
    )
    assert lines[1].startswith("8 refs, 7 objects, 150.35 MB (+1 of unknown size); grouped by node")
    assert (
        "--- node 127.0.0.1 (aaaaaaaa): 7 refs, 6 objects, 150.31 MB (+1 of unknown size) ---"
        in lines
    )
    header = next(line for line in lines if line.startswith("PID"))
    assert header.split("  ")[0] == "PID"
    assert [cell.strip() for cell in header.split("  ") if cell.strip()] == [
        "PID",
        "HOLDER",
        "REFERENCE TYPE",
        "SIZE",
        "STATUS",
        "OWNER",
        "OBJECT ID",
        "CALL SITE",
    ]
    first_row = lines[lines.index(header) + 1].split()
    assert first_row[:6] == ["100", "driver", "PINNED_IN_MEMORY", "150.00", "MB", "FINISHED"]
    assert first_row[6:8] == ["self", BIG]
    orphan_row = next(line for line in lines if ORPHAN in line).split()
    assert orphan_row[6] == "dead"
    assert any(
        line.startswith("Object store: 150.05 MB used of 2.00 GB (7.5% full)") for line in lines
    )
    for kind in (HintKind.DEAD_OWNER, HintKind.CAPTURED_IN_OBJECT, HintKind.TOP_CALL_SITES):
        assert any(line.startswith(f"  [{kind.value}]") for line in lines)


@pytest.mark.parametrize("units", list(Units), ids=lambda u: u.value)
def test_table_sizes_follow_units(units: Units) -> None:
    shot = snapshot()
    text = report_to_text(analyze(shot), (), units)
    assert format_bytes(150_000_000, units) in text
    assert "Leak hints: none" in text


def test_table_says_how_many_were_cut() -> None:
    shot = snapshot()
    text = report_to_text(analyze(shot, top=3), ())
    assert "... and 4 more (--top 3)" in text


def test_empty_cluster() -> None:
    text = report_to_text(analyze(snapshot([])), ())
    assert "No object references are held." in text


def test_json_report_shape() -> None:
    shot = snapshot()
    document = report_to_dict(analyze(shot, GroupBy.OWNER, top=2), leak_hints(shot))
    json.dumps(document)  # everything is JSON-ready
    assert (document["group_by"], document["sort_by"], document["top"]) == ("owner", "size", 2)
    assert document["total"] == {"refs": 8, "objects": 7, "bytes": 150_345_500, "unknown_sizes": 1}
    first = document["groups"][0]
    assert (first["key"], first["refs"], first["listed"]) == ("pid 100 on 127.0.0.1", 5, 2)
    assert len(document["refs"]) == sum(group["listed"] for group in document["groups"])
    record = document["refs"][0]
    assert record["object_id"] == BIG
    assert record["size_bytes"] == 150_000_000
    assert record["reference_type"] == "PINNED_IN_MEMORY"
    assert (record["owner_pid"], record["owner_node_ip"]) == (100, "127.0.0.1")
    assert {hint["kind"] for hint in document["hints"]} >= {"dead_owner", "captured_in_object"}
    assert document["store"]["capacity_bytes"] == 2_000_000_000


def test_stats_only() -> None:
    nodes = (
        NodeMemory("a" * 56, "127.0.0.1", "head", store(), truncated_pids=(9,)),
        NodeMemory("c" * 56, "127.0.0.3", "gone", None, error="Connection refused"),
    )
    shot = snapshot(nodes=nodes)
    text = stats_to_text(shot)
    assert "node 127.0.0.3 (cccccccc): not read: Connection refused" in text
    assert "reference lists cut short for pids [9]" in text
    document = stats_to_dict(shot)
    assert "refs" not in document
    assert document["complete"] is False
    assert document["nodes"][1]["error"] == "Connection refused"


def test_diff_text_and_json() -> None:
    before = snapshot([])
    after = snapshot([ref(f"{i:056x}", call_site="leak.py:9", size_bytes=1_000) for i in range(4)])
    changes = diff_snapshots(before, after)
    text = diff_to_text(changes, Units.B)
    assert "references: 0 -> 4 (+4)" in text
    assert "new objects: 4 (4000 B); freed objects: 0 (0 B)" in text
    assert "By call site:" in text and "By reference type:" in text and "By owner:" in text
    row = next(line for line in text.splitlines() if line.strip().endswith("leak.py:9"))
    assert row.split()[:4] == ["+4000", "B", "+4", "0"]
    document = diff_to_dict(changes)
    assert (document["new_objects"], document["new_bytes"]) == (4, 4_000)
    assert document["by_callsite"][0]["key"] == "leak.py:9"
    assert document["by_callsite"][0]["delta_bytes"] == 4_000
    assert set(document) >= {"by_reference_type", "by_owner", "before", "after"}


def test_diff_top_limits_rows() -> None:
    after = snapshot([ref(f"{i:056x}", call_site=f"site {i}") for i in range(5)])
    changes = diff_snapshots(snapshot([]), after)
    assert len(diff_to_dict(changes, top=2)["by_callsite"]) == 2
    assert "... and 3 more (--top 2)" in diff_to_text(changes, top=2)
    assert "no change" in diff_to_text(diff_snapshots(after, after))
