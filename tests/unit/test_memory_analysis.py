"""Grouping, sorting, tallies, ``--top`` and owner linking on fixture snapshots."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rayobs.memory import GroupBy, ReferenceType, SortBy, analyze, link_owners
from rayobs.memory._analysis import (
    NO_CALL_SITE,
    NO_LIVE_OWNER,
    OWNER_NOT_REPORTED,
    short_call_site,
    tally,
)
from rayobs.memory._model import classify_reference
from tests.unit._memory_fixtures import (
    ARG,
    BIG,
    HANDLE,
    ORPHAN,
    SITE_BIG,
    SITE_SMALL,
    SMALL_1,
    borrowed,
    ref,
    snapshot,
)


def test_link_owners_fills_borrowed_refs_from_the_owner_record() -> None:
    linked = {(r.object_id, r.pid): r for r in snapshot().refs}
    assert linked[(SMALL_1, 200)].owner_pid == 100
    assert linked[(SMALL_1, 200)].owner_node_ip == "127.0.0.1"
    # Nobody owns the orphan any more; actor handles carry no ownership at all.
    assert linked[(ORPHAN, 200)].owner_pid is None
    assert linked[(HANDLE, 100)].owner_pid is None


def test_link_owners_leaves_owned_records_alone() -> None:
    records = [ref(BIG), borrowed(BIG)]
    first, second = link_owners(records)
    assert first is records[0]
    assert second.owner_pid == 100


def test_tally_counts_each_object_once_per_group() -> None:
    counted = tally([ref(BIG, size_bytes=10), borrowed(BIG, size_bytes=10), ref(ARG, size_bytes=5)])
    assert (counted.refs, counted.objects, counted.bytes, counted.unknown_sizes) == (3, 2, 15, 0)


def test_tally_takes_a_known_size_over_an_unknown_one() -> None:
    counted = tally([borrowed(BIG, size_bytes=None), ref(BIG, size_bytes=7)])
    assert (counted.bytes, counted.unknown_sizes) == (7, 0)
    assert tally([ref(HANDLE, size_bytes=None)]).unknown_sizes == 1


EXPECTED_GROUPS = {
    GroupBy.NODE: {"127.0.0.1 (aaaaaaaa)": 7, "127.0.0.2 (bbbbbbbb)": 1},
    GroupBy.OWNER: {
        "pid 100 on 127.0.0.1": 5,
        "pid 300 on 127.0.0.2": 1,
        NO_LIVE_OWNER: 1,
        OWNER_NOT_REPORTED: 1,
    },
    GroupBy.CALLSITE: {
        SITE_BIG: 1,
        SITE_SMALL: 3,
        NO_CALL_SITE: 1,
        "(deserialize actor task arg) job.Holder.hold": 1,
        "<unknown>": 1,
        "(task call) | job.py:run:44": 1,
    },
    GroupBy.REFERENCE_TYPE: {
        "PINNED_IN_MEMORY": 1,
        "LOCAL_REFERENCE": 4,
        "CAPTURED_IN_OBJECT": 1,
        "ACTOR_HANDLE": 1,
        "USED_BY_PENDING_TASK": 1,
    },
}


@pytest.mark.parametrize("group_by", list(GroupBy), ids=lambda g: g.value)
def test_every_grouping(group_by: GroupBy) -> None:
    report = analyze(snapshot(), group_by)
    assert {g.key: g.tally.refs for g in report.groups} == EXPECTED_GROUPS[group_by]
    assert sum(len(g.refs) for g in report.groups) == len(snapshot().refs)


def test_reference_type_group_counts_borrowed_copies_once_as_objects() -> None:
    report = analyze(snapshot(), GroupBy.REFERENCE_TYPE)
    local = next(g for g in report.groups if g.key == "LOCAL_REFERENCE")
    # SMALL_1 held by the driver and borrowed by the actor, OUTER, the orphan.
    assert (local.tally.refs, local.tally.objects) == (4, 3)
    assert local.tally.bytes == 2_000 + 500 + 300_000
    assert local.by_reference_type == {ReferenceType.LOCAL_REFERENCE: 4}


def test_size_order_puts_the_largest_group_and_object_first() -> None:
    report = analyze(snapshot(), GroupBy.NODE, SortBy.SIZE)
    assert [g.key for g in report.groups] == ["127.0.0.1 (aaaaaaaa)", "127.0.0.2 (bbbbbbbb)"]
    sizes = [r.size_bytes or -1 for r in report.groups[0].refs]
    assert sizes == sorted(sizes, reverse=True)
    assert report.groups[0].refs[-1].object_id == HANDLE  # unknown size last


def test_count_order_puts_the_most_referenced_first() -> None:
    report = analyze(snapshot(), GroupBy.CALLSITE, SortBy.COUNT)
    assert report.groups[0].key == SITE_SMALL
    everything = analyze(snapshot(), GroupBy.REFERENCE_TYPE, SortBy.COUNT)
    pending = next(g for g in everything.groups if g.key == "USED_BY_PENDING_TASK")
    assert pending.refs[0].submitted_task_ref_count == 2


def test_pid_order_sorts_holders_ascending() -> None:
    report = analyze(snapshot(), GroupBy.REFERENCE_TYPE, SortBy.PID)
    for group in report.groups:
        pids = [r.pid for r in group.refs]
        assert pids == sorted(pids)
    firsts = [min(r.pid for r in g.refs) for g in report.groups]
    assert firsts == sorted(firsts)


@pytest.mark.parametrize("sort_by", list(SortBy), ids=lambda s: s.value)
def test_every_sort_keeps_every_reference(sort_by: SortBy) -> None:
    report = analyze(snapshot(), GroupBy.OWNER, sort_by)
    assert sorted((r.object_id, r.pid) for g in report.groups for r in g.refs) == sorted(
        (r.object_id, r.pid) for r in snapshot().refs
    )


def test_top_cuts_the_listing_but_not_the_tallies() -> None:
    full = analyze(snapshot(), GroupBy.NODE)
    cut = analyze(snapshot(), GroupBy.NODE, top=2)
    assert [len(g.refs) for g in cut.groups] == [2, 1]
    assert [g.tally for g in cut.groups] == [g.tally for g in full.groups]
    assert cut.groups[0].refs == full.groups[0].refs[:2]
    assert cut.total == full.total


def test_top_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        analyze(snapshot(), top=0)


def test_total_counts_distinct_objects() -> None:
    total = analyze(snapshot()).total
    assert (total.refs, total.objects, total.unknown_sizes) == (8, 7, 1)
    assert total.bytes == 150_000_000 + 2_000 + 3_000 + 500 + 300_000 + 40_000


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({"actor_handle": True, "pinned_in_memory": True}, ReferenceType.ACTOR_HANDLE),
        ({"pinned_in_memory": True, "submitted_task_ref_count": 1}, ReferenceType.PINNED_IN_MEMORY),
        (
            {"submitted_task_ref_count": 1, "local_ref_count": 1},
            ReferenceType.USED_BY_PENDING_TASK,
        ),
        ({"local_ref_count": 1, "captured": True}, ReferenceType.LOCAL_REFERENCE),
        ({"captured": True}, ReferenceType.CAPTURED_IN_OBJECT),
        ({}, ReferenceType.UNKNOWN_STATUS),
    ],
    ids=lambda value: value.value if isinstance(value, ReferenceType) else "",
)
def test_reference_type_precedence(counts: dict[str, object], expected: ReferenceType) -> None:
    arguments: dict[str, object] = {
        "actor_handle": False,
        "pinned_in_memory": False,
        "submitted_task_ref_count": 0,
        "local_ref_count": 0,
        "captured": False,
    }
    arguments.update(counts)
    assert classify_reference(**arguments) is expected  # type: ignore[arg-type]


def test_every_reference_type_is_reachable() -> None:
    """Each member of ReferenceType is produced by some combination of counts."""
    seen = set()
    for handle in (False, True):
        for pinned in (False, True):
            for submitted in (0, 1):
                for local in (0, 1):
                    for captured in (False, True):
                        seen.add(
                            classify_reference(
                                actor_handle=handle,
                                pinned_in_memory=pinned,
                                submitted_task_ref_count=submitted,
                                local_ref_count=local,
                                captured=captured,
                            )
                        )
    assert seen == set(ReferenceType)


def test_an_unknown_size_groups_with_zero_bytes() -> None:
    only_handle = snapshot([replace(ref(HANDLE), size_bytes=None, owned=None)])
    (group,) = analyze(only_handle).groups
    assert (group.tally.bytes, group.tally.unknown_sizes) == (0, 1)


@pytest.mark.parametrize(
    ("site", "short"),
    [
        (
            "(put object)  | /v/lib/python3.11/site-packages/ray/_private/client_mode_hook.py:"
            "wrapper:134 | /v/lib/python3.11/site-packages/ray/_private/auto_init_hook.py:"
            "auto_init_wrapper:22 | /tmp/job.py:build_index:27",
            "(put object) | /tmp/job.py:build_index:27",
        ),
        ("(task call)  | /tmp/job.py:<module>:33", "(task call) | /tmp/job.py:<module>:33"),
        (
            "(deserialize actor task arg) job.Cache.keep",
            "(deserialize actor task arg) job.Cache.keep",
        ),
        (
            "/usr/lib/python3/dist-packages/ray/x.py:f:1",
            "/usr/lib/python3/dist-packages/ray/x.py:f:1",
        ),
    ],
    ids=["put", "task", "borrowed", "only-ray-frames"],
)
def test_short_call_site_drops_ray_frames(site: str, short: str) -> None:
    assert short_call_site(site) == short
