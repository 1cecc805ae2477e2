"""Snapshot diffs on fixture data: what grew, by call site, reference type and owner."""

from __future__ import annotations

from rayobs.memory import GroupBy, ObjectRefRecord, diff_snapshots
from rayobs.memory._analysis import NO_LIVE_OWNER
from rayobs.memory._diff import DIMENSIONS
from tests.unit._memory_fixtures import (
    BIG,
    ORPHAN,
    SITE_BIG,
    SITE_SMALL,
    SMALL_1,
    borrowed,
    incident_refs,
    ref,
    snapshot,
    store,
)

LEAK_SITE = "(put object) | job.py:cache:77"


def grown() -> list[ObjectRefRecord]:
    """The incident plus 50 new 10 kB objects from one call site; the orphan is gone."""
    refs = [r for r in incident_refs() if r.object_id != ORPHAN]
    refs.extend(ref(f"{i:056x}", size_bytes=10_000, call_site=LEAK_SITE) for i in range(50))
    return refs


def test_what_grew_comes_first() -> None:
    before = snapshot(taken_at="2026-11-23T16:00:00+00:00")
    after = snapshot(
        grown(),
        store_stats=store(used_bytes=150_545_500),
        taken_at="2026-11-23T16:05:00+00:00",
    )
    changes = diff_snapshots(before, after)
    assert (changes.new_objects, changes.new_bytes) == (50, 500_000)
    assert (changes.freed_objects, changes.freed_bytes) == (1, 300_000)
    by_site = changes.rows[GroupBy.CALLSITE]
    assert by_site[0].key == LEAK_SITE
    assert (by_site[0].delta_bytes, by_site[0].delta_refs) == (500_000, 50)
    assert (by_site[0].before.refs, by_site[0].after.refs) == (0, 50)
    assert by_site[-1].key == "<unknown>"  # the orphan's borrowed ref went away
    assert by_site[-1].delta_bytes == -300_000
    assert {row.key for row in by_site} == {LEAK_SITE, "<unknown>"}  # unchanged rows dropped
    by_owner = {row.key: row for row in changes.rows[GroupBy.OWNER]}
    assert by_owner["pid 100 on 127.0.0.1"].delta_refs == 50
    assert by_owner[NO_LIVE_OWNER].after.refs == 0
    by_type = {row.key: row for row in changes.rows[GroupBy.REFERENCE_TYPE]}
    assert by_type["LOCAL_REFERENCE"].delta_refs == 49
    assert changes.after.store.used_bytes - changes.before.store.used_bytes == 500_000
    assert changes.before.taken_at == "2026-11-23T16:00:00+00:00"


def test_identical_snapshots_have_no_rows() -> None:
    changes = diff_snapshots(snapshot(), snapshot())
    assert all(rows == () for rows in changes.rows.values())
    assert (changes.new_objects, changes.freed_objects) == (0, 0)


def test_every_dimension_is_diffed() -> None:
    changes = diff_snapshots(snapshot([]), snapshot())
    assert tuple(changes.rows) == DIMENSIONS
    assert set(DIMENSIONS) == {GroupBy.CALLSITE, GroupBy.REFERENCE_TYPE, GroupBy.OWNER}
    for rows in changes.rows.values():
        assert sum(row.delta_refs for row in rows) == len(snapshot().refs)


def test_a_size_that_grew_counts_as_growth_of_the_same_object() -> None:
    before = snapshot([ref(BIG, size_bytes=100, call_site=SITE_BIG)])
    after = snapshot([ref(BIG, size_bytes=400, call_site=SITE_BIG)])
    changes = diff_snapshots(before, after)
    assert (changes.new_objects, changes.freed_objects) == (0, 0)
    (row,) = changes.rows[GroupBy.CALLSITE]
    assert (row.delta_bytes, row.delta_refs) == (300, 0)


def test_a_new_borrower_adds_references_but_no_bytes() -> None:
    before = snapshot([ref(SMALL_1, call_site=SITE_SMALL)])
    after = snapshot([ref(SMALL_1, call_site=SITE_SMALL), borrowed(SMALL_1)])
    (row,) = diff_snapshots(before, after).rows[GroupBy.OWNER]
    assert (row.key, row.delta_refs, row.delta_bytes) == ("pid 100 on 127.0.0.1", 1, 0)
