"""rayobs.instrument without Ray: what it records, and what it leaves exactly as it was."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import pickle
import re
import threading
import traceback
from typing import Any

import pytest

import rayobs
from rayobs.calls._decorator import _MARK
from rayobs.testing import MemoryBackend, capture_metrics
from tests.tracebacks import rayobs_frames

BASE = {"app": "", "component": "", "team": ""}


def calls(
    m: MemoryBackend, name: str, outcome: str, kind: str = "task", **extra: str
) -> float | None:
    tags = {**BASE, **extra, "kind": kind, "name": name, "outcome": outcome}
    return m.value("rayobs_calls", **tags)


def divide(a: float, b: float = 1.0, *, scale: int = 1) -> float:
    """Divide a by b, then scale."""
    return a / b * scale


def test_results_exceptions_and_tracebacks_are_unchanged() -> None:
    wrapped = rayobs.instrument(divide)
    with capture_metrics() as m:
        assert wrapped(6, 3, scale=2) == divide(6, 3, scale=2)
        errors = []
        for fn in (divide, wrapped):
            try:
                fn(1, 0)
            except ZeroDivisionError as exc:
                errors.append(exc)
        rayobs.flush()
    plain, ours = (traceback.format_exception(e) for e in errors)
    # the caller's frame differs (loop iteration, same line); the rest must be identical
    assert plain[2:] == ours[2:]
    assert rayobs_frames(errors[1]) == [], ours
    assert calls(m, "divide", "ok") == 1
    assert calls(m, "divide", "error") == 1
    assert (
        m.value(
            "rayobs_call_errors", **BASE, kind="task", name="divide", exception="ZeroDivisionError"
        )
        == 1
    )


def test_signature_docstring_and_kind_are_preserved() -> None:
    async def fetch(url: str, timeout: float = 1.0) -> str:
        """Fetch."""
        return url

    def numbers(n: int):  # type: ignore[no-untyped-def]
        yield from range(n)

    async def ticks(n: int):  # type: ignore[no-untyped-def]
        for i in range(n):
            yield i

    for fn in (divide, fetch, numbers, ticks):
        wrapped = rayobs.instrument(fn)
        assert inspect.signature(wrapped) == inspect.signature(fn)
        assert wrapped.__doc__ == fn.__doc__ and wrapped.__name__ == fn.__name__
        assert inspect.iscoroutinefunction(wrapped) == inspect.iscoroutinefunction(fn)
        assert inspect.isgeneratorfunction(wrapped) == inspect.isgeneratorfunction(fn)
        assert inspect.isasyncgenfunction(wrapped) == inspect.isasyncgenfunction(fn)


def test_generators_are_timed_over_the_whole_iteration_and_errors_mid_stream_count() -> None:
    @rayobs.instrument
    def stream(n: int, fail_at: int | None = None):  # type: ignore[no-untyped-def]
        for i in range(n):
            if i == fail_at:
                raise ValueError(f"bad item {i}")
            yield i

    with capture_metrics() as m:
        assert list(stream(3)) == [0, 1, 2]
        got = []
        with pytest.raises(ValueError, match="bad item 2"):
            for item in stream(5, fail_at=2):
                got.append(item)
        assert got == [0, 1]
        rayobs.flush()
    name = "test_generators_are_timed_over_the_whole_iteration_and_errors_mid_stream_count"
    assert calls(m, f"{name}.<locals>.stream".rsplit("<locals>.", 1)[-1], "ok") == 1
    assert calls(m, "stream", "error") == 1


def test_async_functions_and_async_generators() -> None:
    @rayobs.instrument
    async def slow(x: int) -> int:
        await asyncio.sleep(0.02)
        if x < 0:
            raise KeyError(x)
        return x

    @rayobs.instrument
    async def agen(n: int):  # type: ignore[no-untyped-def]
        for i in range(n):
            yield i

    async def main() -> list[Any]:
        out = await asyncio.gather(slow(1), slow(2), slow(-1), return_exceptions=True)
        out.append([i async for i in agen(3)])
        return out

    with capture_metrics() as m:
        result = asyncio.run(main())
        rayobs.flush()
    assert result[:2] == [1, 2] and isinstance(result[2], KeyError) and result[3] == [0, 1, 2]
    assert calls(m, "slow", "ok") == 2 and calls(m, "slow", "error") == 1
    hist = m.histogram(
        "rayobs_call_duration_seconds", **BASE, kind="task", name="slow", outcome="ok"
    )
    assert hist is not None and hist.count == 2 and hist.sum >= 0.04  # the awaits were timed
    assert calls(m, "agen", "ok") == 1


class Account:
    kind = "plain"

    def __init__(self, balance: int) -> None:
        self.balance = balance

    def withdraw(self, amount: int) -> int:
        if amount > self.balance:
            raise ValueError("Not enough money")
        self.balance -= amount
        return self.balance

    def report(self) -> str:
        return f"{self.balance}"

    def _private(self) -> int:
        return 1

    @staticmethod
    def currency() -> str:
        return "EUR"

    @classmethod
    def open(cls) -> Account:
        return cls(0)

    @property
    def empty(self) -> bool:
        return self.balance == 0


def test_class_instrumentation_covers_init_public_static_and_class_methods() -> None:
    class Savings(Account):
        def interest(self) -> float:
            return self.balance * 0.01

    rayobs.instrument(Savings, exclude=("report",))
    with capture_metrics() as m:
        s = Savings(10)
        assert s.withdraw(3) == 7 and s.interest() == pytest.approx(0.07) and s.report() == "7"
        assert Savings.currency() == "EUR" and isinstance(Savings.open(), Savings)
        assert s._private() == 1 and s.empty is False
        with pytest.raises(ValueError, match="Not enough money"):
            s.withdraw(100)
        rayobs.flush()
    for method, n in [
        ("__init__", 2),
        ("withdraw", 1),
        ("interest", 1),
        ("currency", 1),
        ("open", 1),
    ]:
        assert calls(m, f"Savings.{method}", "ok", kind="actor") == n, method
    assert calls(m, "Savings.withdraw", "error", kind="actor") == 1
    assert calls(m, "Savings.report", "ok", kind="actor") is None  # excluded
    assert calls(m, "Savings._private", "ok", kind="actor") is None  # private
    assert (
        Account.withdraw is not Savings.withdraw
    )  # inherited methods wrapped on the subclass only


def test_include_and_single_method_decoration() -> None:
    class Counter:
        @rayobs.instrument(name="Counter.bump")
        def bump(self) -> int:
            return 1

        def other(self) -> int:
            return 2

    class Only:
        def a(self) -> int:
            return 1

        def b(self) -> int:
            return 2

    rayobs.instrument(Only, include=("b",))
    with capture_metrics() as m:
        Counter().bump()
        Counter().other()
        Only().a()
        Only().b()
        rayobs.flush()
    assert calls(m, "Counter.bump", "ok", kind="actor") == 1
    assert calls(m, "Only.b", "ok", kind="actor") == 1
    assert calls(m, "Only.a", "ok", kind="actor") is None


def test_instrumenting_twice_measures_once() -> None:
    twice = rayobs.instrument(rayobs.instrument(divide))
    with capture_metrics() as m:
        twice(4, 2)
        rayobs.flush()
    assert calls(m, "divide", "ok") == 1


def test_wrapped_functions_pickle_without_backend_state() -> None:
    from ray import cloudpickle

    def local(x: int) -> int:
        return x + 1

    wrapped = rayobs.instrument(local, tags={"team": "core"})
    with capture_metrics():
        wrapped(1)
        data = cloudpickle.dumps(wrapped)
    clone = pickle.loads(data)
    with capture_metrics() as m:
        assert clone(2) == 3
        rayobs.flush()
    assert calls(m, "local", "ok", team="core") == 1  # the clone starts from zero


def test_a_site_pickles_small_and_loads_as_the_same_site() -> None:
    # every copy of a wrapper carries its site: a task function, a Ray Data UDF
    wrapped = rayobs.instrument(_double, tags={"team": "core"})
    site = getattr(wrapped, _MARK)
    data = pickle.dumps(site)
    assert len(data) < 200, len(data)
    assert pickle.loads(data) is site


def test_a_site_with_its_own_histogram_and_metrics_pickles_whole() -> None:
    histogram = rayobs.Histogram(
        "pickled_site_seconds",
        "Own buckets.",
        boundaries=[0.5, 5.0],
        tag_keys=("name", "outcome"),
    )
    wrapped = rayobs.instrument(
        _double, metrics=["calls", "duration"], duration_histogram=histogram
    )
    site = getattr(wrapped, _MARK)
    copy = pickle.loads(pickle.dumps(site))
    assert copy is site
    assert copy.spec.duration == histogram
    assert copy.spec.metrics == frozenset({"calls", "duration"})


def _double(x: int) -> int:
    return 2 * x


def test_threads_count_exactly_and_in_flight_returns_to_zero() -> None:
    barrier = threading.Barrier(8)

    @rayobs.instrument
    def work(i: int) -> int:
        if i % 10 == 0:
            raise RuntimeError("every tenth")
        return i

    def run() -> None:
        barrier.wait()
        for i in range(1000):
            with contextlib.suppress(RuntimeError):
                work(i)

    with capture_metrics() as m:
        threads = [threading.Thread(target=run) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rayobs.flush()
    assert calls(m, "work", "ok") == 8 * 900
    assert calls(m, "work", "error") == 8 * 100
    assert m.value("rayobs_calls_in_flight", **BASE, kind="task", name="work") == 0


def test_in_flight_counts_running_calls() -> None:
    started, release = threading.Event(), threading.Event()

    @rayobs.instrument
    def block() -> None:
        started.set()
        release.wait(5)

    with capture_metrics() as m:
        t = threading.Thread(target=block)
        t.start()
        started.wait(5)
        rayobs.flush()
        running = m.value("rayobs_calls_in_flight", **BASE, kind="task", name="block")
        release.set()
        t.join()
        rayobs.flush()
    assert running == 1
    assert m.value("rayobs_calls_in_flight", **BASE, kind="task", name="block") == 0


def test_options_select_metrics_and_custom_duration_histogram() -> None:
    hist = rayobs.Histogram(
        "my_step_seconds", boundaries=(0.5, 5), tag_keys=("name", "outcome"), unit="seconds"
    )

    @rayobs.instrument(metrics=("calls",), name="only_calls")
    def a() -> None:
        pass

    @rayobs.instrument(duration_histogram=hist, tags={"app": "shop"})
    def b() -> None:
        pass

    with capture_metrics() as m:
        a()
        b()
        rayobs.flush()
    assert calls(m, "only_calls", "ok") == 1
    assert (
        m.histogram(
            "rayobs_call_duration_seconds", **BASE, kind="task", name="only_calls", outcome="ok"
        )
        is None
    )
    assert m.series("rayobs_calls_in_flight") != {} and all(
        dict(k)["name"] != "only_calls" for k in m.series("rayobs_calls_in_flight")
    )
    mine = m.histogram("my_step_seconds", name="b", outcome="ok")
    assert mine is not None and mine.count == 1 and mine.buckets[0] == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tags": {"owner": "x"}}, "unknown keys ['owner']"),
        ({"tags": {"app": 1}}, "must be a string"),
        ({"metrics": ("calls", "latency")}, "choose from"),
        ({"metrics": "calls"}, "choose from"),
        ({"name": ""}, "non-empty"),
        ({"duration_histogram": "h"}, "rayobs.Histogram"),
    ],
)
def test_bad_options_raise_at_decoration(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(rayobs.MetricDefinitionError, match=re.escape(message)):
        rayobs.instrument(**kwargs)


def test_recording_never_breaks_the_call_when_the_backend_is_broken() -> None:
    class Broken:
        name = "broken"

        def create(self, spec: Any) -> Any:
            raise ConnectionError("metrics agent gone")

    rayobs.configure(backend=Broken(), strict=False)
    wrapped = rayobs.instrument(divide)
    assert [wrapped(i, 1) for i in range(100)] == [float(i) for i in range(100)]
    rayobs.flush()
    failures = rayobs.recording_failures()
    assert any(
        stage == "bind" or stage in ("inc", "set", "observe") for (_m, stage, _t) in failures
    )


def test_memory_option_records_the_peak_increase_and_keeps_exceptions() -> None:
    @rayobs.instrument(memory=True, name="grower")
    def grow(n: int) -> int:
        data = bytearray(n)
        return len(data)

    @rayobs.instrument(memory=True, name="memfail")
    def fail() -> None:
        raise ValueError("x")

    with capture_metrics() as m:
        assert grow(64 * 1024 * 1024) == 64 * 1024 * 1024
        with pytest.raises(ValueError) as info:
            fail()
        rayobs.flush()
    hist = m.histogram("rayobs_call_memory_increase_bytes", **BASE, kind="task", name="grower")
    assert hist is not None and hist.count == 1 and hist.sum >= 32 * 1024 * 1024
    frames = [line for line in traceback.format_exception(info.value) if "File" in line]
    assert len(frames) == 2 and "in fail" in frames[-1]  # the caller, then the function
    assert calls(m, "memfail", "error") == 1


def test_memory_option_refuses_async_and_generators() -> None:
    async def coro() -> None:
        return None

    with pytest.raises(rayobs.MetricDefinitionError, match="plain functions"):
        rayobs.instrument(coro, memory=True)


def test_check_serializable_reports_every_path_at_decoration() -> None:
    lock = threading.Lock()
    conf = {"pool": threading.Lock()}

    def handler(x: int) -> int:
        with lock:
            return x + len(conf)

    with pytest.raises(rayobs.SerializationError) as info:
        rayobs.instrument(handler, check_serializable=True)
    message = str(info.value)
    assert "handler.__closure__[lock]" in message
    assert "handler.__closure__[conf]['pool']" in message
    fine = rayobs.instrument(divide, check_serializable=True)  # picklable: decorated as usual
    assert fine(4, 2) == 2.0


def test_counts_not_yet_flushed_are_pushed_at_normal_exit() -> None:
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        """
        import atexit
        tags = dict(app="", component="", team="", kind="task", name="at_exit")
        # registered before rayobs (and its exit flush) is imported, so it runs after it
        atexit.register(lambda: print(backend.value("rayobs_calls", **tags, outcome="ok")))
        import rayobs
        from rayobs.testing import MemoryBackend
        backend = MemoryBackend()
        rayobs.configure(backend=backend)
        fn = rayobs.instrument(lambda: None, name="at_exit")
        for _ in range(123):
            fn()
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, "RAYOBS_FLUSH_INTERVAL": "3600"},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "123.0"


def test_short_lived_threads_are_folded_not_kept() -> None:
    @rayobs.instrument(name="per_thread")
    def work() -> None:
        return None

    site = work.__rayobs_site__  # type: ignore[attr-defined]
    with capture_metrics() as m:
        for _ in range(200):
            t = threading.Thread(target=lambda: [work() for _ in range(5)])
            t.start()
            t.join()
        rayobs.flush()
    assert len(site._threads) <= 1  # finished threads' counts were folded
    assert calls(m, "per_thread", "ok") == 1000
