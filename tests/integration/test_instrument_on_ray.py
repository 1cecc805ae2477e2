"""rayobs.instrument on the real cluster: semantics preserved exactly, totals exact.

Every case runs a bare and an instrumented version of the same code and checks that
results, exception types, messages and tracebacks match; Prometheus, scraping the
real Ray node, must then show exactly the calls that happened.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import re
import threading
import time
from typing import Any

import pytest
import ray

import rayobs
from tests.harness import Prometheus, RayCluster

CALLS = "sum by (outcome) (max_over_time(ray_rayobs_calls_total{{name={name!r}}}[10m]))"


def calls_query(name: str) -> str:
    return CALLS.format(name=name).replace("'", '"')


def _normalise(text: str) -> str:
    """A RayTaskError's text without what differs between two runs (pids, ids, addresses)."""
    text = re.sub(r"pid=\d+", "pid=N", text)
    text = re.sub(r"actor_id=\w+", "actor_id=X", text)
    text = re.sub(r"0x[0-9a-f]+", "0xADDR", text)
    return re.sub(r"repr=<[^>]*>", "repr=R", text)


def _outcome(ref: Any) -> tuple[str, Any]:
    try:
        return ("ok", ray.get(ref, timeout=60))
    except Exception as exc:
        return (type(exc).__name__, _normalise(str(exc)))


# ---------------------------------------------------------------- plain tasks


def compute(x: int, *, scale: int = 1) -> float:
    """Divide ten by x."""
    return 10 / x * scale


bare_compute = ray.remote(compute)
below = ray.remote(rayobs.instrument(compute, name="matrix_below"))
above = rayobs.instrument(ray.remote(max_retries=0)(compute), name="matrix_above")
drop_in = rayobs.remote(num_cpus=1)(rayobs.instrument(compute, name="matrix_dropin"))


def test_tasks_return_and_raise_exactly_as_uninstrumented(
    ray_driver: RayCluster, prometheus: Prometheus
) -> None:
    for remote_fn in (below, above, drop_in):
        for x in (1, 2, 0, 5, 0):
            assert _outcome(remote_fn.remote(x, scale=3)) == _outcome(
                bare_compute.remote(x, scale=3)
            )
    assert above._default_options["max_retries"] == 0  # the ray.remote options survived
    assert inspect.signature(below._function) == inspect.signature(compute)
    for name in ("matrix_below", "matrix_above", "matrix_dropin"):
        prometheus.wait_for(calls_query(name), {"ok": 3.0, "error": 2.0}, by="outcome")
    prometheus.wait_for(
        'sum(max_over_time(ray_rayobs_call_errors_total{name="matrix_below",exception="ZeroDivisionError"}[10m]))',
        2.0,
    )


def test_num_returns_and_options_still_work(ray_driver: RayCluster, prometheus: Prometheus) -> None:
    @rayobs.remote(num_returns=2)
    def pair(x: int) -> tuple[int, int]:
        return x, x * 2

    a, b = pair.options(name="renamed_pair", num_cpus=0.5).remote(21)
    assert ray.get([a, b]) == [21, 42]
    prometheus.wait_for(calls_query("pair"), {"ok": 1.0}, by="outcome")


# ---------------------------------------------------------------- generators


def numbers(n: int, fail_at: int = -1):  # type: ignore[no-untyped-def]
    for i in range(n):
        if i == fail_at:
            raise ValueError(f"item {i} is bad")
        yield i


@pytest.mark.filterwarnings("ignore:num_returns='dynamic' is deprecated")
def test_streaming_and_dynamic_generators(ray_driver: RayCluster, prometheus: Prometheus) -> None:
    streaming = ray.remote(num_returns="streaming")(
        rayobs.instrument(numbers, name="matrix_stream")
    )
    bare = ray.remote(num_returns="streaming")(numbers)
    assert [ray.get(r) for r in streaming.remote(4)] == [ray.get(r) for r in bare.remote(4)]

    def consume(gen: Any) -> list[Any]:
        out: list[Any] = []
        for ref in gen:
            try:
                out.append(ray.get(ref))
            except ValueError as exc:
                out.append(_normalise(str(exc)).splitlines()[-1])
        return out

    assert consume(streaming.remote(5, fail_at=2)) == consume(bare.remote(5, fail_at=2))
    dynamic = ray.remote(num_returns="dynamic")(rayobs.instrument(numbers, name="matrix_dynamic"))
    refs = ray.get(dynamic.remote(3))
    assert [ray.get(r) for r in refs] == [0, 1, 2]
    prometheus.wait_for(calls_query("matrix_stream"), {"ok": 1.0, "error": 1.0}, by="outcome")
    prometheus.wait_for(calls_query("matrix_dynamic"), {"ok": 1.0}, by="outcome")
    # the duration covers the whole iteration
    prometheus.wait_for(
        'sum(max_over_time(ray_rayobs_call_duration_seconds_count{name="matrix_stream"}[10m]))', 2.0
    )


# ---------------------------------------------------------------- retries and cancel


@ray.remote
class Attempts:
    def __init__(self) -> None:
        self.n = 0

    def next(self) -> int:
        self.n += 1
        return self.n


def flaky(attempts: Any) -> str:
    if ray.get(attempts.next.remote()) < 3:
        raise ConnectionError("try again")
    return "done"


def test_retries_count_every_attempt(ray_driver: RayCluster, prometheus: Prometheus) -> None:
    attempts = Attempts.remote()
    task = ray.remote(max_retries=3, retry_exceptions=[ConnectionError])(
        rayobs.instrument(flaky, name="matrix_retry")
    )
    assert ray.get(task.remote(attempts)) == "done"
    prometheus.wait_for(calls_query("matrix_retry"), {"ok": 1.0, "error": 2.0}, by="outcome")
    ray.kill(attempts)


def sleeper(seconds: float) -> str:
    # short sleeps: Ray's cancel raises KeyboardInterrupt between them, not inside one
    for _ in range(int(seconds * 20)):
        time.sleep(0.05)
    return "slept"


def test_cancel_of_a_running_task(ray_driver: RayCluster, prometheus: Prometheus) -> None:
    results = []
    for fn in (ray.remote(sleeper), ray.remote(rayobs.instrument(sleeper, name="matrix_cancel"))):
        ref = fn.remote(60)
        time.sleep(2.0)  # let it start running
        ray.cancel(ref)
        with pytest.raises(ray.exceptions.TaskCancelledError) as info:
            ray.get(ref, timeout=30)
        results.append(type(info.value).__name__)
    assert results == ["RayTaskError(TaskCancelledError)"] * 2
    prometheus.wait_for(calls_query("matrix_cancel"), {"error": 1.0}, by="outcome", timeout=60)
    prometheus.wait_for(
        'sum(max_over_time(ray_rayobs_call_errors_total{name="matrix_cancel",'
        'exception="KeyboardInterrupt"}[10m]))',
        1.0,
    )


# ---------------------------------------------------------------- actors


@rayobs.instrument
@ray.remote
class Ledger:
    """An actor instrumented after ray.remote."""

    def __init__(self, start: int) -> None:
        if start < 0:
            raise ValueError("negative start")
        self.total = start

    def add(self, x: int) -> int:
        self.total += x
        return self.total

    @ray.method(num_returns=2)
    def split(self) -> tuple[int, int]:
        return self.total // 2, self.total - self.total // 2


def test_actor_methods_init_failure_and_ray_method(
    ray_driver: RayCluster, prometheus: Prometheus
) -> None:
    ledger = Ledger.remote(10)
    assert ray.get(ledger.add.remote(5)) == 15
    left, right = ledger.split.remote()
    assert ray.get([left, right]) == [7, 8]
    broken = Ledger.remote(-1)
    with pytest.raises(ray.exceptions.ActorDiedError, match="negative start"):
        ray.get(broken.add.remote(1), timeout=60)
    prometheus.wait_for(calls_query("Ledger.add"), {"ok": 1.0}, by="outcome")
    prometheus.wait_for(calls_query("Ledger.split"), {"ok": 1.0}, by="outcome")
    prometheus.wait_for(calls_query("Ledger.__init__"), {"ok": 1.0, "error": 1.0}, by="outcome")
    ray.kill(ledger)


@rayobs.instrument(name="Phoenix")
@ray.remote
class _Phoenix:
    def __init__(self) -> None:
        self.total = 0

    def add(self, x: int) -> int:
        self.total += x
        return self.total

    def crash(self) -> None:
        os._exit(1)


def _wait_until_dead(actor: Any) -> None:
    """ray.kill is asynchronous: a call made right after it may still be served."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            ray.get(actor.__ray_ready__.remote(), timeout=30)  # Ray's own: not counted
        except ray.exceptions.RayActorError:
            return
        time.sleep(0.5)
    raise AssertionError("the actor was still answering 60 s after ray.kill")


def _init_calls() -> str:
    return calls_query("Phoenix.__init__")


def test_restart_kill_and_detached_named_actors(
    ray_driver: RayCluster, prometheus: Prometheus
) -> None:
    # Counts reach Prometheus once Ray has exported them: a process that dies within
    # one export interval of a call takes that call's count with it, with or without
    # rayobs. So each step waits for its counts before the next kill.
    actor = _Phoenix.options(max_restarts=1, max_task_retries=0).remote()
    assert ray.get(actor.add.remote(1)) == 1
    prometheus.wait_for(_init_calls(), {"ok": 1.0}, by="outcome")
    prometheus.wait_for(calls_query("Phoenix.add"), {"ok": 1.0}, by="outcome")
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(actor.crash.remote(), timeout=60)
    deadline = time.monotonic() + 60
    while True:  # restarted: __init__ ran again and the state is fresh
        try:
            assert ray.get(actor.add.remote(1), timeout=30) == 1
            break
        except ray.exceptions.RayActorError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    prometheus.wait_for(_init_calls(), {"ok": 2.0}, by="outcome")
    prometheus.wait_for(calls_query("Phoenix.add"), {"ok": 2.0}, by="outcome")
    ray.kill(actor, no_restart=True)
    _wait_until_dead(actor)

    named = _Phoenix.options(name="matrix_named", lifetime="detached", namespace="rayobs").remote()
    assert ray.get(ray.get_actor("matrix_named", namespace="rayobs").add.remote(5)) == 5
    prometheus.wait_for(_init_calls(), {"ok": 3.0}, by="outcome")
    prometheus.wait_for(calls_query("Phoenix.add"), {"ok": 3.0}, by="outcome")
    ray.kill(named)
    with pytest.raises(ValueError):
        ray.get_actor("matrix_named", namespace="rayobs")


@rayobs.instrument
@ray.remote
class AsyncQueue:
    async def put(self, x: int) -> int:
        await asyncio.sleep(0.01)
        if x < 0:
            raise ValueError("negative")
        return x


@ray.remote(max_concurrency=8)
@rayobs.instrument
class Pool:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.busy = 0
        self.peak = 0

    def work(self, x: int) -> int:
        with self.lock:
            self.busy += 1
            self.peak = max(self.peak, self.busy)
        time.sleep(0.02)
        with self.lock:
            self.busy -= 1
        if x % 7 == 0:
            raise KeyError(x)
        return x

    def peak_concurrency(self) -> int:
        return self.peak


def test_async_and_threaded_actors(ray_driver: RayCluster, prometheus: Prometheus) -> None:
    assert inspect.iscoroutinefunction(AsyncQueue.__ray_metadata__.modified_class.put)
    queue = AsyncQueue.remote()
    outs = [_outcome(r) for r in [queue.put.remote(i) for i in (1, 2, -1, 3)]]
    assert [o[0] for o in outs] == ["ok", "ok", "RayTaskError(ValueError)", "ok"]
    pool = Pool.remote()
    outs = [_outcome(r) for r in [pool.work.remote(i) for i in range(1, 29)]]
    assert sum(o[0] == "ok" for o in outs) == 24
    assert ray.get(pool.peak_concurrency.remote()) > 1  # really ran concurrently
    prometheus.wait_for(calls_query("AsyncQueue.put"), {"ok": 3.0, "error": 1.0}, by="outcome")
    prometheus.wait_for(calls_query("Pool.work"), {"ok": 24.0, "error": 4.0}, by="outcome")
    ray.kill(queue)
    ray.kill(pool)


# ---------------------------------------------------------------- callable classes


class Scale:
    """A callable class: __call__ is measured by default, other dunders are not."""

    def __init__(self, factor: int) -> None:
        self.factor = factor

    def __call__(self, x: int) -> int:
        if x < 0:
            raise ValueError("negative")
        return x * self.factor

    def __repr__(self) -> str:
        return f"Scale({self.factor})"


class AsyncScale:
    async def __call__(self, x: int) -> int:
        await asyncio.sleep(0.01)
        if x < 0:
            raise ValueError("negative")
        return x * 2


def test_callable_classes_plain_and_remote_sync_and_async(
    ray_driver: RayCluster, prometheus: Prometheus
) -> None:
    remote_sync = rayobs.instrument(ray.remote(type("Scale", (Scale,), {})), name="callable_sync")
    remote_async = ray.remote(
        rayobs.instrument(type("AsyncScale", (AsyncScale,), {}), name="callable_async")
    )
    plain = rayobs.instrument(type("Scale", (Scale,), {}), name="callable_plain")

    @ray.remote
    def apply_plain(xs: list[int]) -> list[Any]:
        scale = plain(3)  # a plain class, built and called in a task
        return [_outcome_here(scale, x) for x in xs]

    bare = ray.remote(Scale).remote(3)
    actor, async_actor = remote_sync.remote(3), remote_async.remote()
    xs = [1, 2, -1, 4]
    assert [_outcome(actor.__call__.remote(x)) for x in xs] == [
        _outcome(bare.__call__.remote(x)) for x in xs
    ]
    assert [_outcome(async_actor.__call__.remote(x)) for x in xs][:2] == [("ok", 2), ("ok", 4)]
    assert ray.get(apply_plain.remote(xs)) == [3, 6, "ValueError", 12]
    for name in ("callable_sync", "callable_async", "callable_plain"):
        prometheus.wait_for(
            calls_query(f"{name}.__call__"), {"ok": 3.0, "error": 1.0}, by="outcome"
        )
    prometheus.wait_for(calls_query("callable_sync.__init__"), {"ok": 1.0}, by="outcome")
    prometheus.wait_for(calls_query("callable_plain.__init__"), {"ok": 1.0}, by="outcome")
    for handle in (bare, actor, async_actor):
        ray.kill(handle)


def _outcome_here(fn: Any, x: int) -> Any:
    try:
        return fn(x)
    except ValueError as exc:
        return type(exc).__name__


# ---------------------------------------------------------------- exact counting


def counted(i: int) -> int:
    if i % 13 == 0:
        raise ValueError("multiple of 13")
    return i


@ray.remote
def batch(fn: Any, start: int, stop: int) -> int:
    ok = 0
    for i in range(start, stop):
        try:
            fn(i)
            ok += 1
        except ValueError:
            pass
    return ok


@ray.remote(max_concurrency=8)
class ThreadedCounter:
    @rayobs.instrument(name="exact_threaded")
    def call(self, i: int) -> int:
        return counted(i)


@ray.remote
class AsyncCounter:
    @rayobs.instrument(name="exact_async")
    async def call(self, i: int) -> int:
        return counted(i)


def test_ten_thousand_calls_are_counted_exactly(
    ray_driver: RayCluster, prometheus: Prometheus
) -> None:
    in_tasks = rayobs.instrument(counted, name="exact_tasks")
    one_call_per_task = ray.remote(rayobs.instrument(counted, name="exact_task_calls"))

    # 4,000 calls inside 8 tasks, 1,000 one-call tasks, 2,500 threaded and 2,500 async actor calls
    task_ok = sum(ray.get([batch.remote(in_tasks, k * 500, (k + 1) * 500) for k in range(8)]))
    singles = [_outcome(one_call_per_task.remote(i)) for i in range(1000)]
    threaded, asynchronous = ThreadedCounter.remote(), AsyncCounter.remote()
    t_out = [_outcome(r) for r in [threaded.call.remote(i) for i in range(2500)]]
    a_out = [_outcome(r) for r in [asynchronous.call.remote(i) for i in range(2500)]]

    def expected(n: int, start: int = 0) -> dict[str, float]:
        errors = sum(1 for i in range(start, start + n) if i % 13 == 0)
        return {"ok": float(n - errors), "error": float(errors)}

    assert task_ok == expected(4000)["ok"]
    assert sum(o[0] == "ok" for o in singles) == expected(1000)["ok"]
    assert sum(o[0] == "ok" for o in t_out) == expected(2500)["ok"]
    assert sum(o[0] == "ok" for o in a_out) == expected(2500)["ok"]
    query = 'sum by (name, outcome) (max_over_time(ray_rayobs_calls_total{name=~"exact_.*"}[10m]))'
    want = {
        f"{name}/{outcome}": value
        for name, n in (
            ("exact_tasks", 4000),
            ("exact_task_calls", 1000),
            ("exact_threaded", 2500),
            ("exact_async", 2500),
        )
        for outcome, value in expected(n).items()
    }
    deadline = time.monotonic() + 60
    seen: dict[str, float] = {}
    while time.monotonic() < deadline:
        seen = {
            f"{r['metric']['name']}/{r['metric']['outcome']}": float(r["value"][1])
            for r in prometheus.query(query)
        }
        if seen == want:
            break
        time.sleep(1)
    assert seen == want
    assert sum(want.values()) == 10_000
    ray.kill(threaded)
    ray.kill(asynchronous)


# ---------------------------------------------------------------- never harm the app


@ray.remote(max_calls=1)  # its own worker process: the broken backend dies with it
def with_broken_backend(n: int) -> tuple[list[float], dict[str, int]]:
    class Broken:
        name = "broken"

        def create(self, spec: Any) -> Any:
            raise ConnectionError("metrics agent gone")

    rayobs.configure(backend=Broken(), strict=False)
    try:
        fn = rayobs.instrument(compute, name="never_harm")
        results = [fn(i + 1) for i in range(n)]
        rayobs.flush()
        rayobs.flush()
        failures = {"/".join(k): v for k, v in rayobs.recording_failures().items()}
    finally:
        rayobs.configure(backend=None)
    return results, failures


def test_a_broken_backend_never_harms_the_call(ray_driver: RayCluster) -> None:
    results, failures = ray.get(with_broken_backend.remote(50))
    assert results == [10 / (i + 1) for i in range(50)]
    assert failures, "the failures were not counted"
    assert all("ConnectionError" in key for key in failures)


# ---------------------------------------------------------------- per-call memory


def allocate(megabytes: int) -> int:
    block = b"\x01" * (megabytes * 1024 * 1024)  # written, so resident (calloc'd pages are not)
    time.sleep(0.3)  # held long enough for the 10 ms sampler to see the peak
    return len(block)


def test_memory_option_on_a_ray_task(ray_driver: RayCluster, prometheus: Prometheus) -> None:
    task = ray.remote(rayobs.instrument(allocate, name="matrix_memory", memory=True))
    assert ray.get([task.remote(80), task.remote(80)]) == [80 * 1024 * 1024] * 2
    prometheus.wait_for(
        'sum(max_over_time(ray_rayobs_call_memory_increase_bytes_count{name="matrix_memory"}[10m]))',
        2.0,
    )
    # each call grew by 80 MiB: both land in the 64-256 MiB bucket
    prometheus.wait_for(
        'sum(max_over_time(ray_rayobs_call_memory_increase_bytes_bucket{name="matrix_memory",'
        'le="268435456.0"}[10m])) - sum(max_over_time(ray_rayobs_call_memory_increase_bytes_bucket'
        '{name="matrix_memory",le="67108864.0"}[10m]))',
        2.0,
    )
