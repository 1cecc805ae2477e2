"""Intended exits (``exit_actor()``, ``sys.exit(0)``) are outcome ``exit``, never errors.

Without a cluster: the exception objects are the ones Ray 2.60 raises
(``ray._raylet.raise_sys_exit_with_custom_error_message`` is what
``ray.actor.exit_actor()`` calls in a sync actor; ``AsyncioActorExit`` what it
raises in an async one). The same code on a real cluster, scraped by a real
Prometheus, is in tests/integration/test_exits_on_ray.py.
"""

from __future__ import annotations

import asyncio
import doctest
import sys
from collections.abc import Callable
from typing import Any

import pytest
from ray._raylet import raise_sys_exit_with_custom_error_message
from ray.exceptions import AsyncioActorExit

import rayobs
import rayobs.otel
from rayobs import _outcome
from rayobs.testing import MemoryBackend, capture_metrics

BASE = {"app": "", "component": "", "team": ""}


def exit_actor() -> None:
    """What ``ray.actor.exit_actor()`` raises in a sync actor (the actor part left out)."""
    raise_sys_exit_with_custom_error_message("exit_actor() is called.")


def raiser(exc: BaseException | None) -> Callable[[], None]:
    def raise_it() -> None:
        if exc is not None:
            raise exc

    return raise_it


@pytest.mark.parametrize(
    ("make", "outcome"),
    [
        (lambda: None, "ok"),
        (lambda: SystemExit(), "exit"),
        (lambda: SystemExit(None), "exit"),
        (lambda: SystemExit(0), "exit"),
        (lambda: SystemExit(False), "exit"),
        (lambda: AsyncioActorExit(), "exit"),
        (lambda: SystemExit(3), "error"),
        (lambda: SystemExit(256), "error"),  # the shell would see 0; Ray sees a non-zero code
        (lambda: SystemExit("usage: job.py FILE"), "error"),  # Python exits with 1
        (lambda: KeyboardInterrupt(), "error"),  # ray.cancel of a running task
        (lambda: ValueError("x"), "error"),
        (lambda: GeneratorExit(), "error"),  # never reaches finish: the wrappers handle it
    ],
)
def test_outcome_of_each_way_a_call_ends(make: Callable[[], Any], outcome: str) -> None:
    assert _outcome.of(make()) == outcome


def test_exit_actor_raises_system_exit_zero_with_ray_reason() -> None:
    with pytest.raises(SystemExit) as info:
        exit_actor()
    assert info.value.code == 0 and _outcome.of(info.value) == "exit"
    assert info.value.ray_terminate_msg == "exit_actor() is called."  # type: ignore[attr-defined]


def test_doctests() -> None:
    result = doctest.testmod(_outcome)
    assert result.attempted >= 2 and result.failed == 0


def _raised(fn: Callable[..., Any], *args: Any) -> BaseException:
    try:
        fn(*args)
    except BaseException as exc:
        return exc
    raise AssertionError("did not raise")


def test_sync_calls_count_exits_apart_from_errors_and_raise_them_untouched() -> None:
    @rayobs.instrument
    def job(code: Any) -> int:
        if code == "actor":
            exit_actor()
        if code == "ok":
            return 1
        sys.exit(code)

    with capture_metrics() as m:
        assert job("ok") == 1
        exits = [_raised(job, code) for code in (0, None, "actor")]
        errors = [_raised(job, code) for code in (3, "usage")]
        rayobs.flush()
    # the exception objects pass through as they were raised: codes and Ray's reason kept
    assert [type(e) for e in exits + errors] == [SystemExit] * 5
    assert [e.code for e in exits + errors] == [0, None, 0, 3, "usage"]  # type: ignore[attr-defined]
    assert exits[2].ray_terminate_msg == "exit_actor() is called."  # type: ignore[attr-defined]
    assert m.calls(job) == {"ok": 1, "exit": 3, "error": 2}
    assert m.errors(job) == {"SystemExit": 2}  # only the non-zero codes
    assert m.value("rayobs_calls_in_flight", **BASE, kind="task", name="job") == 0


def _durations(m: MemoryBackend, name: str, outcome: str) -> Any:
    return m.histogram(
        "rayobs_call_duration_seconds", **BASE, kind="task", name=name, outcome=outcome
    )


def test_async_actor_exit_and_coroutines() -> None:
    @rayobs.instrument
    async def step(how: str) -> str:
        await asyncio.sleep(0.01)
        if how == "asyncio_exit":
            raise AsyncioActorExit()  # exit_actor() in an async actor
        if how == "exit":
            sys.exit(0)
        if how == "fail":
            sys.exit(3)
        return how

    async def main() -> list[Any]:
        out: list[Any] = []
        for how in ("ok", "asyncio_exit", "exit", "fail"):
            try:  # one at a time: asyncio.gather lets SystemExit through
                out.append(await step(how))
            except (SystemExit, AsyncioActorExit) as exc:
                out.append(exc)
        return out

    with capture_metrics() as m:
        out = asyncio.run(main())
        rayobs.flush()
    assert out[0] == "ok"
    assert [type(o) for o in out[1:]] == [AsyncioActorExit, SystemExit, SystemExit]
    assert m.calls(step) == {"ok": 1, "exit": 2, "error": 1}
    assert m.errors(step) == {"SystemExit": 1}
    exited = _durations(m, "step", "exit")
    assert exited is not None and exited.count == 2 and exited.sum >= 0.02  # awaits timed


def test_generators_that_exit_mid_stream() -> None:
    @rayobs.instrument
    def items(code: int | None):  # type: ignore[no-untyped-def]
        yield 1
        sys.exit(code)

    @rayobs.instrument
    async def aitems(code: int | None):  # type: ignore[no-untyped-def]
        yield 1
        sys.exit(code)

    async def drain(code: int | None) -> list[Any]:
        got: list[Any] = []
        try:
            async for item in aitems(code):
                got.append(item)
        except SystemExit as exc:
            got.append(exc.code)
        return got

    with capture_metrics() as m:
        for code in (None, 0, 5):
            got: list[Any] = []
            with pytest.raises(SystemExit):
                for item in items(code):
                    got.append(item)
            assert got == [1]
            assert asyncio.run(drain(code)) == [1, code]
        rayobs.flush()
    for fn in (items, aitems):
        assert m.calls(fn) == {"exit": 2, "error": 1}
        assert m.errors(fn) == {"SystemExit": 1}


def test_exit_durations_keep_exact_per_bucket_sums() -> None:
    hist = rayobs.Histogram(
        "u_exit_seconds", boundaries=(1.0, 10.0), tag_keys=("outcome",), unit="seconds"
    )

    @rayobs.instrument(duration_histogram=hist)
    def leave() -> None:
        sys.exit(0)

    site = leave.__rayobs_site__  # type: ignore[attr-defined]
    with capture_metrics() as m:
        stats = site.stats()
        for seconds in (0.25, 0.5, 2.5):
            stats.started += 1
            site.record_raised(stats, seconds, SystemExit(0))
        stats.started += 1
        site.record_raised(stats, 4.0, SystemExit(1))
        rayobs.flush()
        stats.started += 1
        site.record_raised(stats, 0.125, AsyncioActorExit())
        rayobs.flush()  # only the difference is pushed
    exited = m.histogram("u_exit_seconds", outcome="exit")
    assert exited is not None and exited.count == 4
    assert exited.buckets == (3, 1, 0)
    assert exited.sum == 0.25 + 0.5 + 2.5 + 0.125  # each bucket's mean, once per call: exact
    failed = m.histogram("u_exit_seconds", outcome="error")
    assert failed is not None and (failed.count, failed.sum) == (1, 4.0)


def test_count_exceptions_skips_intended_exits_and_time_observes_them() -> None:
    errors = rayobs.Counter("u_exit_errors", tag_keys=("kind",))
    seconds = rayobs.Histogram("u_exit_timed_seconds", boundaries=(1.0,), unit="seconds")

    @errors.count_exceptions(BaseException, tags={"kind": "decorated"})
    @seconds.time()
    def leave(code: Any) -> None:
        sys.exit(code)

    with capture_metrics() as m:
        for code in (0, None, 4):
            with pytest.raises(SystemExit):
                leave(code)
        with pytest.raises(SystemExit), errors.count_exceptions(SystemExit, tags={"kind": "cm"}):
            exit_actor()
        with (
            pytest.raises(AsyncioActorExit),
            errors.count_exceptions(tags={"kind": "default"}),  # Exception: AsyncioActorExit is one
        ):
            raise AsyncioActorExit()
    assert m.value("u_exit_errors", kind="decorated") == 1.0  # sys.exit(4) only
    assert m.value("u_exit_errors", kind="cm") is None
    assert m.value("u_exit_errors", kind="default") is None
    timed = m.histogram("u_exit_timed_seconds")
    assert timed is not None and timed.count == 3  # every call timed, however it ended


@pytest.fixture
def spans() -> Any:
    rayobs.otel.configure_tracing("memory")
    yield rayobs.otel.memory_spans


def test_exit_spans_are_not_errors_and_say_how_the_call_exited(spans: Any) -> None:
    @rayobs.instrument(trace=True, name="leave")
    def leave(how: str) -> None:
        if how == "actor":
            exit_actor()
        if how == "asyncio":
            raise AsyncioActorExit()
        sys.exit(0 if how == "zero" else 3)

    for how in ("actor", "zero", "asyncio", "three"):
        with pytest.raises((SystemExit, AsyncioActorExit)):
            leave(how)
    actor, zero, asyncio_exit, three = spans()
    for span in (actor, zero, asyncio_exit):
        assert span.status.status_code.name == "UNSET"
        assert span.attributes["rayobs.outcome"] == "exit"
        assert [e.name for e in span.events] == ["exit"]
    assert actor.attributes["rayobs.exit_code"] == 0
    assert dict(actor.events[0].attributes) == {
        "exception.type": "SystemExit",
        "exception.message": "exit_actor() is called.",
    }
    assert zero.attributes["rayobs.exit_code"] == 0
    assert dict(zero.events[0].attributes) == {"exception.type": "SystemExit"}
    assert "rayobs.exit_code" not in asyncio_exit.attributes
    assert dict(asyncio_exit.events[0].attributes) == {
        "exception.type": "ray.exceptions.AsyncioActorExit"
    }
    # a non-zero code is an error, with its code
    assert three.status.status_code.name == "ERROR"
    assert three.status.description == "SystemExit: 3"
    assert three.attributes["rayobs.outcome"] == "error"
    assert three.attributes["rayobs.exit_code"] == 3
    assert [e.name for e in three.events] == ["exception"]


def test_generator_exit_spans(spans: Any) -> None:
    @rayobs.instrument(trace=True, name="stream")
    def stream(code: int):  # type: ignore[no-untyped-def]
        yield 1
        sys.exit(code)

    for code in (0, 2):
        with pytest.raises(SystemExit):
            list(stream(code))
    ok, failed = spans()
    assert (ok.attributes["rayobs.outcome"], ok.status.status_code.name) == ("exit", "UNSET")
    assert (failed.attributes["rayobs.outcome"], failed.status.status_code.name) == (
        "error",
        "ERROR",
    )
    assert failed.attributes["rayobs.exit_code"] == 2
