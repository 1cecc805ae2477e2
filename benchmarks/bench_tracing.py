"""Per-call cost of tracing an instrumented function, against a bare OpenTelemetry span.

Targets: sampled <= 25 us per call (an SDK span alone costs about 21 us here);
unsampled <= 2 us. Spans go to an exporter that drops them, so the exporter's own
I/O is not measured; the baseline span uses the same provider, in the same run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

try:
    from benchmarks._timing import per_call_ns
except ImportError:  # run as a script
    from _timing import per_call_ns  # type: ignore[no-redef]

NUMBER = 5_000
REPEAT = 9


class _Drop:
    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _noop(x: int) -> int:
    return x


def _measure(ratio: float) -> dict[str, float]:
    import rayobs
    import rayobs.otel

    provider = rayobs.otel.configure_tracing(_Drop(), sample_ratio=ratio, batch=True)
    rayobs.configure(backend="memory")
    tracer = provider.get_tracer("bench")
    metrics_only = rayobs.instrument(_noop, name=f"bench_metrics_{ratio}")
    traced = rayobs.instrument(_noop, name=f"bench_traced_{ratio}", trace=True)

    def sdk_span() -> None:
        with tracer.start_as_current_span("bare"):
            _noop(1)

    return per_call_ns(
        {
            "bare": lambda: _noop(1),
            "metrics only": lambda: metrics_only(1),
            "traced": lambda: traced(1),
            "sdk span": sdk_span,
        },
        NUMBER,
        REPEAT,
    )


def main() -> None:
    sampled, unsampled = _measure(1.0), _measure(0.0)
    print("per-call overhead over a bare call (median ns)")
    print(f"{'case':<34}{'sampled':>10}{'unsampled':>11}")
    for case in ("metrics only", "traced", "sdk span"):
        print(
            f"{case:<34}{sampled[case] - sampled['bare']:>10.0f}"
            f"{unsampled[case] - unsampled['bare']:>11.0f}"
        )
    traced_s = sampled["traced"] - sampled["bare"]
    traced_u = unsampled["traced"] - unsampled["bare"]
    span_s = sampled["sdk span"] - sampled["bare"]
    ratio = traced_s / span_s
    print(f"traced sampled: {traced_s / 1000:.1f} us (target <= 25), {ratio:.2f}x an SDK span")
    print(f"traced unsampled: {traced_u / 1000:.2f} us (target <= 2)")


if __name__ == "__main__":
    main()
