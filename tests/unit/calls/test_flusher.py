"""rayobs.calls._flusher: one push per bucket, the push at exit, failures off the call path."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

import rayobs
from rayobs.backends._prometheus import PrometheusBackend
from rayobs.calls import _flusher
from rayobs.testing import capture_metrics

BOUNDS = (0.001, 0.01, 0.1, 1.0)


def _calls(fn: Any, n: int) -> None:
    for i in range(n):
        with contextlib.suppress(ValueError):
            fn(i)


def _flaky(i: int) -> int:
    if i % 7 == 0:
        raise ValueError(i)
    return i


def test_a_push_gives_the_histogram_what_one_observe_per_call_would() -> None:
    duration = rayobs.Histogram("f_seconds", boundaries=BOUNDS, tag_keys=("name", "outcome"))
    fn = rayobs.instrument(_flaky, name="flaky", duration_histogram=duration)
    with capture_metrics() as metrics:
        _calls(fn, 700)
        ok = metrics.histogram("f_seconds", name="flaky", outcome="ok")
        error = metrics.histogram("f_seconds", name="flaky", outcome="error")
    assert ok is not None and error is not None
    assert (ok.count, error.count) == (600, 100)
    assert sum(ok.buckets) == 600 and sum(error.buckets) == 100


def test_the_prometheus_backend_gets_one_update_per_bucket_with_exact_totals() -> None:
    registry = CollectorRegistry()
    duration = rayobs.Histogram("p_seconds", boundaries=BOUNDS, tag_keys=("name", "outcome"))
    fn = rayobs.instrument(_flaky, name="pflaky", duration_histogram=duration)
    rayobs.configure(backend=PrometheusBackend(registry))
    _calls(fn, 700)
    rayobs.flush()
    labels = {"name": "pflaky", "outcome": "ok"}
    count = registry.get_sample_value("p_seconds_count", labels)
    inf = registry.get_sample_value("p_seconds_bucket", {**labels, "le": "+Inf"})
    assert count == inf == 600.0
    tags = {"kind": "task", "name": "pflaky", "outcome": "error"}
    calls = registry.get_sample_value(
        "rayobs_calls_total", {**tags, "app": "", "component": "", "team": ""}
    )
    assert calls == 100.0


def test_strict_mode_never_raises_in_the_background_push_and_counts_the_failure() -> None:
    class Broken:
        name = "broken"

        def create(self, spec: Any) -> Any:
            raise ConnectionError("agent gone")

    fn = rayobs.instrument(_flaky, name="strict_bg")
    rayobs.configure(backend=Broken(), strict=True)
    _calls(fn, 3)  # the calls themselves never touch the backend
    with _flusher.paused() as flusher, rayobs.metrics._failures.in_background():
        flusher.push()
    failures = rayobs.recording_failures()
    assert failures[("rayobs_calls", "inc", "ConnectionError")] >= 1
    with pytest.raises(rayobs.RecordingError):  # on the call path, strict still raises
        rayobs.Counter("strict_fg").inc()


def test_counts_of_a_process_are_pushed_at_exit_and_the_thread_stops() -> None:
    code = """
import threading, rayobs
from rayobs.testing import MemoryBackend
seen = MemoryBackend()
rayobs.configure(backend=seen)
fn = rayobs.instrument(lambda i: i, name="at_exit")
for i in range(123):
    fn(i)
from rayobs.calls import _flusher
_flusher.flusher.shutdown()
_flusher.flusher._thread.join(5)
print(seen.calls("at_exit"), _flusher.flusher._thread.is_alive())
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["{'ok':", "123}", "False"]


def test_a_site_with_no_new_call_is_not_pushed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from rayobs.calls import _stats

    fn = rayobs.instrument(_flaky, name="idle")
    with capture_metrics() as metrics:
        _calls(fn, 10)
        rayobs.flush()
        pushed: list[int] = []
        read_context = _stats._context_tags

        def counted() -> dict[str, str]:
            pushed.append(1)  # read once by every push that does work
            return read_context()

        monkeypatch.setattr(_stats, "_context_tags", counted)
        rayobs.flush()
        rayobs.flush()
        assert pushed == []
        _calls(fn, 1)
        rayobs.flush()
        assert len(pushed) == 1
        assert metrics.calls(fn) == {"ok": 8, "error": 3}  # fn(0) raises


def test_a_call_that_only_ended_since_the_last_push_is_pushed() -> None:
    import threading

    release = threading.Event()
    fn = rayobs.instrument(lambda: release.wait(10), name="slow_one")
    with capture_metrics() as metrics:
        worker = threading.Thread(target=fn)
        worker.start()
        _wait_for(lambda: metrics.in_flight(fn) == 1)  # started, pushed as in flight
        release.set()
        worker.join(10)
        rayobs.flush()  # nothing started since: the end alone must be pushed
        assert (metrics.calls(fn), metrics.in_flight(fn)) == ({"ok": 1}, 0)


def _wait_for(condition: Any, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        rayobs.flush()
        time.sleep(0.01)


class _SlowToPrepare:
    """A site whose instruments take a while to create."""

    def __init__(self) -> None:
        self.spec = type("Spec", (), {"name": "slow"})()
        self.started = threading.Event()
        self.release = threading.Event()

    def prepare(self) -> None:
        self.started.set()
        self.release.wait(10)

    def flush(self) -> None: ...
    def forget_pending(self) -> None: ...
    def rebind(self) -> None: ...
    def after_fork(self) -> None: ...


def test_a_site_counts_as_unprepared_until_its_instruments_exist() -> None:
    # a worker that received an instrumented callable is ready once nothing is unprepared
    site = _SlowToPrepare()
    _flusher.flusher.expect(site)
    try:
        assert site.started.wait(10)
        assert site in _flusher.flusher._unprepared
    finally:
        site.release.set()
    deadline = time.monotonic() + 10
    while site in _flusher.flusher._unprepared and time.monotonic() < deadline:
        time.sleep(0.01)
    assert site not in _flusher.flusher._unprepared
