"""Leak hints on fixture snapshots: each kind fires on its pattern, and only then."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rayobs.memory import HintKind, LeakHint, NodeMemory, StoreStats, leak_hints
from rayobs.memory._hints import LARGE_DRIVER_REF_BYTES
from tests.unit._memory_fixtures import (
    ARG,
    BIG,
    NODE_A,
    ORPHAN,
    OUTER,
    SITE_BIG,
    SITE_SMALL,
    SMALL_1,
    SMALL_2,
    borrowed,
    ref,
    snapshot,
    store,
)


def hints_by_kind(hints: tuple[LeakHint, ...]) -> dict[HintKind, LeakHint]:
    return {hint.kind: hint for hint in hints}


def test_the_incident_fixture_raises_the_leak_hints() -> None:
    found = hints_by_kind(leak_hints(snapshot()))
    # Every owned reference there has a call site, and the store is 7.5% full.
    assert set(found) == set(HintKind) - {
        HintKind.STORE_PRESSURE,
        HintKind.CALL_SITES_NOT_RECORDED,
    }


@pytest.mark.parametrize("kind", list(HintKind), ids=lambda k: k.value)
def test_every_kind_fires_on_its_own_pattern(kind: HintKind) -> None:
    """One minimal snapshot per kind; that kind, and no unrelated one, is reported."""
    patterns = {
        HintKind.DEAD_OWNER: snapshot([borrowed(ORPHAN, call_site=None)]),
        HintKind.CAPTURED_IN_OBJECT: snapshot(
            [ref(SMALL_2, contained_in=(OUTER,), call_site="x"), ref(OUTER, call_site="x")]
        ),
        HintKind.LARGE_DRIVER_REFERENCE: snapshot(
            [ref(BIG, size_bytes=LARGE_DRIVER_REF_BYTES, call_site="x")]
        ),
        HintKind.TOP_CALL_SITES: snapshot([ref(BIG, call_site=SITE_BIG)]),
        HintKind.CALL_SITES_NOT_RECORDED: snapshot([ref(BIG, call_site=None)]),
        HintKind.STORE_PRESSURE: snapshot(
            [], store_stats=store(used_bytes=1_900_000_000, capacity_bytes=2_000_000_000)
        ),
    }
    kinds = {hint.kind for hint in leak_hints(patterns[kind])}
    assert kind in kinds
    assert kinds <= {kind, HintKind.TOP_CALL_SITES}


def test_a_clean_snapshot_only_ranks_its_call_sites() -> None:
    hints = leak_hints(snapshot([ref(BIG, call_site=SITE_BIG)]))
    assert [hint.kind for hint in hints] == [HintKind.TOP_CALL_SITES]
    assert leak_hints(snapshot([])) == ()


def test_dead_owner_names_the_holder_and_the_bytes() -> None:
    hint = hints_by_kind(leak_hints(snapshot()))[HintKind.DEAD_OWNER]
    assert (hint.count, hint.bytes, hint.object_ids) == (1, 300_000, (ORPHAN,))
    assert hint.details == ("pid 200 (worker) on 127.0.0.1: 1 reference, 300.00 KB",)
    assert "OwnerDiedError" in hint.advice
    assert "not read" not in hint.summary


def test_dead_owner_ignores_actor_handles_and_linked_borrowers() -> None:
    from tests.unit._memory_fixtures import HANDLE

    refs = [
        ref(SMALL_1),
        borrowed(SMALL_1),
        borrowed(HANDLE, owned=None, size_bytes=None),
    ]
    assert HintKind.DEAD_OWNER not in hints_by_kind(leak_hints(snapshot(refs)))


def test_dead_owner_hedges_when_a_node_was_not_read() -> None:
    nodes = (
        NodeMemory(NODE_A, "127.0.0.1", "head", store()),
        NodeMemory("c" * 56, "127.0.0.3", "gone", None, error="Connection refused"),
    )
    hint = hints_by_kind(leak_hints(snapshot(nodes=nodes)))[HintKind.DEAD_OWNER]
    assert "not read: the owner may be among them" in hint.summary


def test_dead_owner_counts_pinned_orphans() -> None:
    refs = [borrowed(ORPHAN, pinned_in_memory=True)]
    hint = hints_by_kind(leak_hints(snapshot(refs)))[HintKind.DEAD_OWNER]
    assert "1 still pinned" in hint.summary


def test_captured_says_which_objects_live_only_by_capture() -> None:
    hint = hints_by_kind(leak_hints(snapshot()))[HintKind.CAPTURED_IN_OBJECT]
    assert hint.count == 2  # SMALL_1 (also held directly) and SMALL_2 (captured only)
    assert hint.bytes == 5_000
    assert hint.object_ids == (SMALL_2,)
    assert hint.details == (f"captured by {OUTER}",)
    assert hint.summary.endswith("inside 1 other object, 1 kept alive only by that")


def test_large_driver_refs_respect_the_threshold() -> None:
    big = snapshot([ref(BIG, size_bytes=5_000_000, call_site="x")])
    assert HintKind.LARGE_DRIVER_REFERENCE not in hints_by_kind(leak_hints(big))
    hint = hints_by_kind(leak_hints(big, large_bytes=5_000_000))[HintKind.LARGE_DRIVER_REFERENCE]
    assert (hint.count, hint.bytes, hint.object_ids) == (1, 5_000_000, (BIG,))


def test_large_refs_held_by_workers_are_not_driver_refs() -> None:
    worker_ref = ref(BIG, size_bytes=10**9, worker_type="WORKER", pid=300, call_site="x")
    assert HintKind.LARGE_DRIVER_REFERENCE not in hints_by_kind(leak_hints(snapshot([worker_ref])))


def test_top_call_sites_rank_owned_bytes() -> None:
    hint = hints_by_kind(leak_hints(snapshot()))[HintKind.TOP_CALL_SITES]
    assert hint.details[0] == f"150.00 MB in 1 reference: {SITE_BIG}"
    assert hint.details[1] == "40.00 KB in 1 reference: (task call) | job.py:run:44"
    assert hint.details[2] == f"5.50 KB in 3 references: {SITE_SMALL}"
    # Borrowers' notes ("deserialize actor task arg", "<unknown>") are not creation sites.
    assert all("deserialize" not in d and "<unknown>" not in d for d in hint.details)
    assert hint.bytes == 150_000_000 + 40_000 + 5_500


def test_top_call_sites_keeps_three() -> None:
    refs = [ref(f"{i:056x}", call_site=f"site {i}", size_bytes=i + 1) for i in range(6)]
    hint = hints_by_kind(leak_hints(snapshot(refs)))[HintKind.TOP_CALL_SITES]
    assert [d.rsplit(": ", 1)[1] for d in hint.details] == ["site 5", "site 4", "site 3"]


def test_missing_call_sites_name_the_processes() -> None:
    refs = [ref(BIG, call_site=None), ref(ARG, call_site="x", pid=300)]
    hint = hints_by_kind(leak_hints(snapshot(refs)))[HintKind.CALL_SITES_NOT_RECORDED]
    assert hint.summary == "1 of 2 owned references have no call site (processes 100)"
    assert "RAY_record_ref_creation_sites=1" in hint.advice


def test_borrowed_refs_without_call_site_do_not_ask_for_recording() -> None:
    refs = [ref(BIG, call_site="x"), borrowed(BIG, call_site=None)]
    assert HintKind.CALL_SITES_NOT_RECORDED not in hints_by_kind(leak_hints(snapshot(refs)))


@pytest.mark.parametrize(
    ("stats", "phrase"),
    [
        (StoreStats(used_bytes=80, capacity_bytes=100), "80% full"),
        (StoreStats(used_bytes=1, capacity_bytes=100, fallback_bytes=5), "filesystem fallback"),
        (StoreStats(used_bytes=1, capacity_bytes=100, spilled_bytes=2_000_000), "spilled"),
        (StoreStats(pulls_queued=True), "queued"),
    ],
    ids=["full", "fallback", "spilled", "pulls"],
)
def test_store_pressure(stats: StoreStats, phrase: str) -> None:
    hint = hints_by_kind(leak_hints(snapshot([], store_stats=stats)))[HintKind.STORE_PRESSURE]
    assert phrase in hint.summary
    assert "ObjectStoreFullError" in hint.advice


def test_store_below_the_threshold_is_quiet() -> None:
    calm = snapshot([], store_stats=StoreStats(used_bytes=79, capacity_bytes=100))
    assert leak_hints(calm) == ()


def test_hints_are_frozen() -> None:
    hint = leak_hints(snapshot())[0]
    with pytest.raises(AttributeError):
        hint.count = 3  # type: ignore[misc]
    assert replace(hint, count=3).count == 3
