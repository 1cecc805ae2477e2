"""Handles on the in-memory backend: recording, tags, pickling, timers, exception counters."""

from __future__ import annotations

import asyncio
import inspect
import pickle

import pytest

import rayobs
from rayobs.testing import capture_metrics
from tests.tracebacks import rayobs_frames


def test_counter_gauge_histogram_record_with_default_and_explicit_tags() -> None:
    c = rayobs.Counter("u_calls", tag_keys=("route", "team"), default_tags={"team": "core"})
    g = rayobs.Gauge("u_queue", tag_keys=("q",))
    h = rayobs.Histogram("u_wait_seconds", boundaries=(0.1, 1.0), unit="seconds")
    with capture_metrics() as m:
        c.inc(tags={"route": "/a"})
        c.inc(2.5, tags={"route": "/a"})
        c.inc(tags={"route": "/b", "team": "web"})
        g.set(10, tags={"q": "x"})
        g.inc(tags={"q": "x"})
        g.dec(4, tags={"q": "x"})
        for v in (0.05, 0.5, 5.0, 0.1):
            h.observe(v)
    assert m.value("u_calls", route="/a", team="core") == 3.5
    assert m.value("u_calls", route="/b", team="web") == 1.0
    assert m.value("u_queue", q="x") == 7.0
    hist = m.histogram("u_wait_seconds")
    assert hist is not None
    assert (hist.count, hist.buckets) == (4, (2, 1, 1))
    assert hist.sum == pytest.approx(5.65)


def test_with_tags_view_records_and_pickles() -> None:
    money = rayobs.Gauge("u_money", tag_keys=("actor_name",))
    north = money.with_tags(actor_name="north")
    clone = pickle.loads(pickle.dumps(north))
    with capture_metrics() as m:
        north.set(5)
        clone.inc(2)
    assert m.value("u_money", actor_name="north") == 7.0


class TeamCounter(rayobs.Counter):
    """A user subclass: identity and extra attributes survive pickling."""

    def __init__(self, name: str, team: str) -> None:
        super().__init__(name, tag_keys=("team",), default_tags={"team": team})
        self.owner = team


def test_pickle_keeps_spec_default_tags_and_subclass() -> None:
    from ray import cloudpickle

    c = TeamCounter("u_team_calls", "payments")
    for dumps in (pickle.dumps, cloudpickle.dumps):
        clone = pickle.loads(dumps(c))
        assert type(clone) is TeamCounter
        assert clone.spec == c.spec
        assert clone.spec.default_tags_dict() == {"team": "payments"}
        assert clone.owner == "payments"
    assert len(pickle.dumps(c)) < 600  # a spec, never a backend object
    with capture_metrics() as m:
        c.inc()
        pickle.loads(pickle.dumps(c)).inc()
    assert m.value("u_team_calls", team="payments") == 2.0


def test_pickle_after_use_carries_no_backend_state() -> None:
    c = rayobs.Counter("u_used")
    with capture_metrics():
        c.inc()
        data = pickle.dumps(c)
    assert b"MemoryBackend" not in data and b"_Instrument" not in data


def test_time_context_manager_and_decorators_keep_function_kinds() -> None:
    h = rayobs.Histogram("u_step_seconds", boundaries=(0.001, 10), unit="seconds")

    @h.time()
    def sync(x: int) -> int:
        """Doc."""
        return x + 1

    @h.time()
    async def coro(x: int) -> int:
        await asyncio.sleep(0.01)
        return x * 2

    @h.time()
    def gen(n: int):  # type: ignore[no-untyped-def]
        yield from range(n)

    assert inspect.iscoroutinefunction(coro)
    assert inspect.isgeneratorfunction(gen)
    assert sync.__doc__ == "Doc." and inspect.signature(sync) == inspect.signature(sync.__wrapped__)
    with capture_metrics() as m:
        assert sync(1) == 2
        assert asyncio.run(coro(3)) == 6
        assert list(gen(3)) == [0, 1, 2]
        with h.time():
            pass
    hist = m.histogram("u_step_seconds")
    assert hist is not None and hist.count == 4
    assert hist.buckets[1] >= 1  # the coroutine's 10 ms await was timed, not just its creation


def test_count_exceptions_counts_and_reraises_untouched() -> None:
    errors = rayobs.Counter("u_errors", tag_keys=("kind",))

    @errors.count_exceptions(ValueError, tags={"kind": "parse"})
    def parse(text: str) -> int:
        return int(text)

    @errors.count_exceptions(tags={"kind": "async"})
    async def fail() -> None:
        raise KeyError("k")

    with capture_metrics() as m:
        assert parse("3") == 3
        with pytest.raises(ValueError, match="invalid literal") as info:
            parse("x")
        assert info.traceback[-1].name == "parse"  # the user's frame is where it was raised
        with pytest.raises(KeyError):
            asyncio.run(fail())
        with (
            pytest.raises(ZeroDivisionError),
            errors.count_exceptions(ArithmeticError, tags={"kind": "cm"}),
        ):
            1 / 0  # noqa: B018
        with pytest.raises(TypeError), errors.count_exceptions(ValueError, tags={"kind": "other"}):
            raise TypeError("not counted")
    assert m.value("u_errors", kind="parse") == 1.0
    assert m.value("u_errors", kind="async") == 1.0
    assert m.value("u_errors", kind="cm") == 1.0
    assert m.value("u_errors", kind="other") is None  # never incremented


def test_generator_closed_early_is_timed_once() -> None:
    h = rayobs.Histogram("u_gen_seconds", boundaries=(1,), unit="seconds")

    @h.time()
    def numbers():  # type: ignore[no-untyped-def]
        yield from range(100)

    with capture_metrics() as m:
        it = numbers()
        next(it)
        it.close()
    assert m.histogram("u_gen_seconds").count == 1  # type: ignore[union-attr]


def test_async_generator_wrapper_passes_values_and_exceptions_through() -> None:
    h = rayobs.Histogram("u_agen_seconds", boundaries=(1,), unit="seconds")

    @h.time()
    async def echo():  # type: ignore[no-untyped-def]
        received = None
        for _ in range(3):
            try:
                received = yield received
            except KeyError:
                received = "caught"

    async def drive() -> list[object]:
        agen = echo()
        out = [await agen.asend(None), await agen.asend("a"), await agen.athrow(KeyError())]
        with pytest.raises(StopAsyncIteration):
            await agen.asend("end")
        return out

    assert inspect.isasyncgenfunction(echo)
    with capture_metrics() as m:
        assert asyncio.run(drive()) == [None, "a", "caught"]
    assert m.histogram("u_agen_seconds").count == 1  # type: ignore[union-attr]


def test_timers_and_exception_counters_leave_tracebacks_clean() -> None:
    import traceback

    errors = rayobs.Counter("u_tb_errors")
    h = rayobs.Histogram("u_tb_seconds", boundaries=(1,), unit="seconds")

    @errors.count_exceptions()
    @h.time()
    def fail() -> None:
        raise LookupError("nope")

    @h.time()
    def gen_fail():  # type: ignore[no-untyped-def]
        yield 1
        raise LookupError("mid-stream")

    with capture_metrics():
        with pytest.raises(LookupError) as first:
            fail()
        with pytest.raises(LookupError) as second:
            list(gen_fail())
    for info in (first, second):
        assert rayobs_frames(info.value) == [], traceback.format_exception(info.value)
