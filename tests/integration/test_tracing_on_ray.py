"""Traces across real Ray calls: driver → task → nested task and actor method, one trace.

Workers write their spans to JSON-lines files (one per process) in a temp dir, named
by ``RAYOBS_TRACE_EXPORTER`` in the tasks' runtime environment: no collector needed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import ray

import rayobs
import rayobs.otel
from tests.harness import RayCluster


@ray.remote
@rayobs.instrument(trace=True, name="trace_leaf")
def leaf(x: int, **kwargs: Any) -> dict[str, Any]:
    return {"x": x, "kwargs": sorted(kwargs)}


@ray.remote
@rayobs.instrument(trace=True, name="TraceActor")
class TraceActor:
    def __init__(self) -> None:
        self.created = True

    def method(self, x: int, **kwargs: Any) -> list[str]:
        if x == 2:
            raise ValueError("x is two")
        return sorted(kwargs)

    def stream(self, n: int):  # type: ignore[no-untyped-def]
        yield from range(n)


@ray.remote
@rayobs.instrument(trace=True, name="trace_middle")
def middle(x: int, actor: Any, **kwargs: Any) -> tuple[Any, Any, list[str]]:
    leaf_result = ray.get(leaf.remote(x))
    try:
        actor_result: Any = ray.get(actor.method.remote(x))
    except ValueError as exc:
        actor_result = str(exc).splitlines()[-1]
    return leaf_result, actor_result, sorted(kwargs)


def _collect(directory: Path, expected: int, timeout: float = 45.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    spans: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        spans = rayobs.otel.read_spans(directory)
        if len(spans) >= expected:
            return spans
        time.sleep(0.5)
    raise AssertionError(
        f"expected {expected} spans, found {len(spans)}: {[s['name'] for s in spans]}"
    )


def test_one_trace_from_driver_through_tasks_and_actors(
    ray_driver: RayCluster, tmp_path: Path
) -> None:
    env = {"env_vars": {"RAYOBS_TRACE_EXPORTER": f"jsonl:{tmp_path}"}}
    rayobs.otel.configure_tracing(f"jsonl:{tmp_path}", batch=False)
    from opentelemetry import trace

    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("driver") as root:
        actor = TraceActor.options(runtime_env=env).remote()
        results = ray.get([middle.options(runtime_env=env).remote(i, actor) for i in (1, 2, 3)])
    # the user functions saw no extra keyword arguments, at any depth
    assert results == [
        ({"x": 1, "kwargs": []}, [], []),
        ({"x": 2, "kwargs": []}, "ValueError: x is two", []),
        ({"x": 3, "kwargs": []}, [], []),
    ]
    spans = _collect(tmp_path, expected=1 + 1 + 3 * 3)
    by_id = {s["span_id"]: s for s in spans}
    trace_ids = {s["trace_id"] for s in spans}
    assert trace_ids == {f"{root.get_span_context().trace_id:032x}"}

    def parent_name(span: dict[str, Any]) -> str | None:
        parent = span["parent_span_id"]
        return None if parent is None else by_id[parent]["name"]

    names = sorted((s["name"], parent_name(s)) for s in spans)
    assert names == sorted(
        [("driver", None), ("TraceActor.__init__", "driver")]
        + [("trace_middle", "driver")] * 3
        + [("trace_leaf", "trace_middle")] * 3
        + [("TraceActor.method", "trace_middle")] * 3
    )
    # each leaf and actor call hangs under the middle task that made it
    for middle_span in (s for s in spans if s["name"] == "trace_middle"):
        children = [s for s in spans if s["parent_span_id"] == middle_span["span_id"]]
        assert sorted(c["name"] for c in children) == ["TraceActor.method", "trace_leaf"]
    failed = [s for s in spans if s["status"]["code"] == "ERROR"]
    assert [s["name"] for s in failed] == ["TraceActor.method"]
    event = failed[0]["events"][0]
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"] == "ValueError"
    assert event["attributes"]["exception.message"] == "x is two"
    leaf_span = next(s for s in spans if s["name"] == "trace_leaf")
    assert leaf_span["attributes"]["rayobs.outcome"] == "ok"
    assert {"ray.task_id", "ray.job_id"} <= set(leaf_span["attributes"])
    method = next(s for s in spans if s["name"] == "TraceActor.method")
    assert method["attributes"]["ray.actor.class"] == "TraceActor"
    assert "ray.actor_id" in method["attributes"]
    ray.kill(actor)


@ray.remote(num_returns="streaming")
@rayobs.instrument(trace=True, name="trace_stream")
def stream(n: int):  # type: ignore[no-untyped-def]
    for i in range(n):
        yield ray.get(leaf.remote(i))["x"]


@ray.remote
@rayobs.instrument(trace=True, name="AsyncTracer")
class AsyncTracer:
    async def ping(self, x: int) -> int:
        await asyncio.sleep(0.01)
        return x


@ray.remote(max_concurrency=4)
@rayobs.instrument(trace=True, name="ThreadedTracer")
class ThreadedTracer:
    def ping(self, x: int) -> int:
        time.sleep(0.01)
        return x


def test_generators_async_and_threaded_actors_join_the_trace(
    ray_driver: RayCluster, tmp_path: Path
) -> None:
    env = {"env_vars": {"RAYOBS_TRACE_EXPORTER": f"jsonl:{tmp_path}"}}
    rayobs.otel.configure_tracing(f"jsonl:{tmp_path}", batch=False)
    from opentelemetry import trace

    with trace.get_tracer("test").start_as_current_span("driver") as root:
        items = [ray.get(ref) for ref in stream.options(runtime_env=env).remote(3)]
        async_actor = AsyncTracer.options(runtime_env=env).remote()
        threaded = ThreadedTracer.options(runtime_env=env).remote()
        pings = ray.get([async_actor.ping.remote(i) for i in range(3)])
        pings += ray.get([threaded.ping.remote(i) for i in range(4)])
    assert items == [0, 1, 2] and pings == [0, 1, 2, 0, 1, 2, 3]
    spans = _collect(tmp_path, expected=1 + 1 + 3 + 7)
    root_id = f"{root.get_span_context().span_id:016x}"
    assert {s["trace_id"] for s in spans} == {f"{root.get_span_context().trace_id:032x}"}
    under_root = sorted(s["name"] for s in spans if s["parent_span_id"] == root_id)
    assert under_root == sorted(
        ["trace_stream"] + ["AsyncTracer.ping"] * 3 + ["ThreadedTracer.ping"] * 4
    )
    stream_span = next(s for s in spans if s["name"] == "trace_stream")
    leaves = [s for s in spans if s["name"] == "trace_leaf"]
    assert len(leaves) == 3 and all(s["parent_span_id"] == stream_span["span_id"] for s in leaves)
    # the generator's span covers the whole iteration, its leaves included
    assert stream_span["end_time_unix_nano"] >= max(s["end_time_unix_nano"] for s in leaves)
    ray.kill(async_actor)
    ray.kill(threaded)


@pytest.mark.parametrize("sampled", [False])
def test_tracing_off_adds_nothing(ray_driver: RayCluster, tmp_path: Path, sampled: bool) -> None:
    """Without trace=True the wrapper has no tracing code, and Ray passes nothing extra."""

    @ray.remote
    @rayobs.instrument(name="untraced")
    def untraced(**kwargs: Any) -> list[str]:
        return sorted(kwargs)

    rayobs.otel.configure_tracing(f"jsonl:{tmp_path}", batch=False)
    from opentelemetry import trace

    with trace.get_tracer("test").start_as_current_span("driver"):
        assert ray.get(untraced.remote()) == []
    assert not hasattr(untraced._function, "__rayobs_trace__")
    assert [s["name"] for s in rayobs.otel.read_spans(tmp_path)] == ["driver"]
