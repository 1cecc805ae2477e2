"""Tracing without a cluster: spans, context hand-off, and nothing else changed."""

from __future__ import annotations

import inspect
import pickle
import traceback
from typing import Any

import pytest
from opentelemetry import trace

import rayobs
import rayobs.otel
from rayobs.tracing import _ray_patch
from tests.tracebacks import rayobs_frames


@pytest.fixture
def spans() -> Any:
    rayobs.otel.configure_tracing("memory")
    yield rayobs.otel.memory_spans


def test_traced_wrapper_keeps_signature_and_pops_the_carrier(spans: Any) -> None:
    def f(x: int, *, scale: int = 1, **extra: Any) -> dict[str, Any]:
        """Doc."""
        return {"x": x * scale, "extra": extra}

    traced = rayobs.instrument(f, trace=True)
    assert inspect.signature(traced) == inspect.signature(f)
    assert traced.__doc__ == "Doc."
    with trace.get_tracer("t").start_as_current_span("caller"):
        carrier = _ray_patch_carrier()
    result = traced(2, scale=3, **{_ray_patch.TRACE_KWARG: carrier})
    assert result == {"x": 6, "extra": {}}  # the function never saw the carrier
    [span] = [s for s in spans() if s.name == "f"]
    caller = next(s for s in spans() if s.name == "caller")
    assert span.parent.span_id == caller.context.span_id
    assert span.context.trace_id == caller.context.trace_id


def _ray_patch_carrier() -> dict[str, str]:
    from rayobs.tracing import _context

    carrier = _context.current_carrier()
    assert carrier and "traceparent" in carrier
    return carrier


def test_exceptions_become_span_events_and_tracebacks_stay_clean(spans: Any) -> None:
    @rayobs.instrument(trace=True, name="boom")
    def boom() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError) as info:
        boom()
    assert rayobs_frames(info.value) == [], traceback.format_exception(info.value)
    [span] = spans()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["rayobs.outcome"] == "error"
    assert span.events[0].attributes["exception.type"] == "KeyError"


def test_generator_span_covers_iteration_without_leaking_context(spans: Any) -> None:
    @rayobs.instrument(trace=True, name="gen")
    def gen(n: int):  # type: ignore[no-untyped-def]
        for _ in range(n):
            yield trace.get_current_span().get_span_context().span_id

    it = gen(3)
    inside = [next(it)]
    outside = trace.get_current_span().get_span_context().span_id  # the consumer's context
    inside += list(it)
    [span] = spans()
    assert set(inside) == {span.context.span_id}
    assert outside != span.context.span_id


def test_nested_calls_in_process_are_children(spans: Any) -> None:
    @rayobs.instrument(trace=True, name="inner")
    def inner() -> int:
        return 1

    @rayobs.instrument(trace=True, name="outer")
    def outer() -> int:
        return inner() + 1

    assert outer() == 2
    by_name = {s.name: s for s in spans()}
    assert by_name["inner"].parent.span_id == by_name["outer"].context.span_id


def test_sampling_ratio_zero_records_nothing_but_still_works() -> None:
    rayobs.otel.configure_tracing("memory", sample_ratio=0.0)
    traced = rayobs.instrument(lambda: 5, trace=True, name="unsampled")
    assert traced() == 5
    assert rayobs.otel.memory_spans() == []


def test_a_broken_tracer_never_breaks_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    from rayobs.tracing import _context

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("exporter gone")

    monkeypatch.setattr(_context, "start", broken)
    rayobs.configure(strict=False)
    traced = rayobs.instrument(lambda x: x * 2, trace=True, name="robust")
    assert [traced(i) for i in range(10)] == [i * 2 for i in range(10)]
    assert rayobs.recording_failures()[("robust", "trace", "RuntimeError")] == 10


def test_ray_patch_marks_and_injects_only_for_traced_signatures(spans: Any) -> None:
    from ray._common import signature

    was_installed = bool(_ray_patch._originals)
    _ray_patch.install()
    _ray_patch.install()  # twice is fine

    def plain(a: int) -> int:
        return a

    def marked(a: int) -> int:
        return a

    _ray_patch.mark(marked)
    plain_sig = signature.extract_signature(plain)
    marked_sig = signature.extract_signature(marked)
    assert not isinstance(plain_sig, _ray_patch.TracedSignature)
    assert isinstance(marked_sig, _ray_patch.TracedSignature)
    assert bool(_ray_patch.TracedSignature([]))  # an empty one still gets flattened
    restored = pickle.loads(pickle.dumps(marked_sig))
    assert isinstance(restored, _ray_patch.TracedSignature) and list(restored) == list(marked_sig)
    with trace.get_tracer("t").start_as_current_span("caller"):
        flat_plain = signature.flatten_args(plain_sig, (1,), {})
        flat_marked = signature.flatten_args(marked_sig, (1,), {})
    assert _ray_patch.TRACE_KWARG not in flat_plain
    assert flat_marked[-2] == _ray_patch.TRACE_KWARG and "traceparent" in flat_marked[-1]
    with pytest.raises(TypeError):  # Ray's own validation still runs first
        signature.flatten_args(marked_sig, (1, 2), {})
    _ray_patch.uninstall()
    _ray_patch.uninstall()
    assert not isinstance(signature.extract_signature(marked), _ray_patch.TracedSignature)
    if was_installed:  # other tests in this session trace across Ray
        _ray_patch.install()


def test_tracing_is_off_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = rayobs.instrument(lambda: 1, name="plain")
    assert not hasattr(plain, _ray_patch.MARK)
    monkeypatch.setenv("RAYOBS_TRACE", "1")
    assert getattr(rayobs.instrument(lambda: 1, name="on"), _ray_patch.MARK) is True
    assert not hasattr(rayobs.instrument(lambda: 1, name="off", trace=False), _ray_patch.MARK)


def test_jsonl_exporter_round_trip(tmp_path: Any) -> None:
    rayobs.otel.configure_tracing(f"jsonl:{tmp_path}", batch=False)
    rayobs.instrument(lambda: 1, trace=True, name="written")()
    [span] = rayobs.otel.read_spans(tmp_path)
    assert span["name"] == "written" and span["parent_span_id"] is None
    assert len(span["trace_id"]) == 32 and span["attributes"]["rayobs.outcome"] == "ok"


@pytest.mark.parametrize("spec", ["nope", "jsonl:", "otlp-xyz"])
def test_bad_exporter_specs_are_refused(spec: str) -> None:
    with pytest.raises((ValueError, ImportError)):
        rayobs.otel.configure_tracing(spec)
