"""The registry: lazy creation, cardinality budget, never-raise policy, backend selection."""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any

import pytest

import rayobs
from rayobs.metrics import _registry
from rayobs.metrics._spec import MetricSpec
from rayobs.testing import capture_metrics


def test_backend_object_is_created_once_per_process_and_name() -> None:
    created: list[str] = []

    class Recording(rayobs.testing.MemoryBackend):
        def create(self, spec: MetricSpec) -> Any:
            created.append(spec.name)
            return super().create(spec)

    a = rayobs.Counter("r_once", tag_keys=("k",))
    b = rayobs.Counter("r_once", tag_keys=("k",))
    rayobs.configure(backend=Recording())
    for i in range(100):
        a.inc(tags={"k": str(i % 3)})
        b.inc()  # missing tag value: reported, recorded as ''
    assert created.count("r_once") == 1


def test_cardinality_budget_folds_into_other_and_counts_the_overflow() -> None:
    c = rayobs.Counter(
        "r_card", tag_keys=("user", "region"), default_tags={"region": "eu"}, max_cardinality=3
    )
    with capture_metrics() as m:
        for i in range(10):
            c.inc(tags={"user": f"u{i}"})
        c.inc(tags={"user": "u0"})  # admitted earlier: still its own series
    series = m.series("r_card")
    assert len(series) == 4
    assert m.value("r_card", user="u0", region="eu") == 2.0
    assert m.value("r_card", user="__other__", region="eu") == 7.0
    assert m.value("rayobs_cardinality_overflow", metric="r_card") == 7.0


def test_fast_path_cache_stays_bounded() -> None:
    c = rayobs.Counter("r_bounded", tag_keys=("id",), max_cardinality=10)
    with capture_metrics() as m:
        for i in range(5000):
            c.inc(tags={"id": str(i)})
        entry = _registry.entry(c.spec)
    assert len(entry.children) <= 2 * 10 + 16
    assert len(entry.admitted) == 10
    assert m.total("r_bounded") == 5000


def test_configured_default_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYOBS_MAX_CARDINALITY", "2")
    c = rayobs.Counter("r_env_budget", tag_keys=("k",))
    with capture_metrics() as m:
        for k in "abc":
            c.inc(tags={"k": k})
    assert m.value("r_env_budget", k="__other__") == 1.0


class _Broken:
    """A backend whose every record fails, like a metrics agent that went away."""

    name = "broken"

    def create(self, spec: MetricSpec) -> Any:
        return self

    def bind(self, tags: dict[str, str]) -> Any:
        return self

    def inc(self, value: float = 1.0) -> None:
        raise ConnectionError("metrics agent unreachable")

    set = dec = observe = inc


def test_recording_failures_never_reach_user_code_and_are_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    c = rayobs.Counter("r_broken")
    h = rayobs.Histogram("r_broken_seconds", boundaries=(1,), unit="seconds")
    rayobs.configure(backend=_Broken(), strict=False)

    @h.time()
    def user_code(x: int) -> int:
        c.inc()
        return x * 2

    with caplog.at_level(logging.WARNING, logger="rayobs"):
        assert [user_code(i) for i in range(50)] == [i * 2 for i in range(50)]
    failures = rayobs.recording_failures()
    assert failures[("r_broken", "inc", "ConnectionError")] == 50
    assert failures[("r_broken_seconds", "observe", "ConnectionError")] == 50
    messages = [r.getMessage() for r in caplog.records if "r_broken" in r.getMessage()]
    assert len(messages) == 2, messages
    assert "metrics agent unreachable" in messages[0]


def test_bad_arguments_at_run_time_are_reported_not_raised() -> None:
    c = rayobs.Counter("r_misuse", tag_keys=("k",))
    rayobs.configure(backend="memory", strict=False)
    c.inc(-1, tags={"k": "a"})  # counters only go up
    c.inc(tags={"nope": "x"})  # unknown tag key
    c.inc(tags={"k": ["unhashable"]})  # type: ignore[dict-item]
    stages = {(m, s) for (m, s, _t) in rayobs.recording_failures()}
    assert {("r_misuse", "inc"), ("r_misuse", "tags")} <= stages


def test_strict_mode_raises_recording_errors() -> None:
    c = rayobs.Counter("r_strict")
    rayobs.configure(backend=_Broken(), strict=True)
    with pytest.raises(rayobs.RecordingError, match="inc of metric 'r_strict' failed") as info:
        c.inc()
    assert isinstance(info.value.__cause__, ConnectionError)


def test_unpickled_conflicting_spec_is_reported_not_raised() -> None:
    from rayobs.metrics._handles import _restore
    from rayobs.metrics._spec import Kind, make_spec

    rayobs.Counter("r_skew", "v1")
    other = make_spec(Kind.COUNTER, "r_skew", "v2")
    rayobs.configure(strict=False)
    handle = _restore(rayobs.Counter, other)  # what unpickling a v2 handle does
    assert handle.spec.description == "v2"
    assert ("r_skew", "declare", "MetricConflictError") in rayobs.recording_failures()


def test_backend_selection_by_env_and_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYOBS_BACKEND", "memory")
    assert _registry.backend().name == "memory"
    rayobs.configure(backend="prometheus")
    assert _registry.backend().name == "prometheus"
    with pytest.raises(ValueError, match="unknown rayobs backend 'nope'"):
        rayobs.configure(backend="nope")


def test_auto_selects_prometheus_without_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAYOBS_BACKEND", raising=False)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not imported
    assert _registry.ray_connected() is False
    assert _registry.backend().name == "prometheus"


def test_importing_rayobs_imports_neither_ray_nor_prometheus_client() -> None:
    code = (
        "import sys, rayobs, rayobs.testing; "
        "mods = ('ray', 'prometheus_client', 'opentelemetry'); "
        "print(sorted(m for m in mods if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
