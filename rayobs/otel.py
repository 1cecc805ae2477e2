"""OpenTelemetry for rayobs: traces across Ray calls, and handles recorded as OTel metrics.

In the driver::

    import rayobs.otel
    rayobs.otel.configure_tracing("jsonl:/tmp/traces")      # or "console", "otlp", "memory"
    rayobs.otel.configure_metrics("otlp")                    # or "prometheus:9464", "memory"

In every worker, either set the environment for the job (nothing else needed: a
worker configures itself on its first traced call)::

    ray.init(runtime_env={"env_vars": {"RAYOBS_TRACE_EXPORTER": "jsonl:/tmp/traces"}})

or run :func:`setup_worker` as Ray's worker setup hook::

    ray.init(runtime_env={"worker_process_setup_hook": "rayobs.otel.setup_worker", ...})

OTLP exporters read the standard ``OTEL_EXPORTER_OTLP_*`` variables (endpoint,
headers, protocol) and need ``pip install opentelemetry-exporter-otlp``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rayobs import _config

logger = logging.getLogger("rayobs")

__all__ = [
    "JsonLinesSpanExporter",
    "configure_metrics",
    "configure_tracing",
    "flush",
    "read_spans",
    "setup_worker",
]

_provider: Any = None
_memory_exporter: Any = None


def configure_tracing(
    exporter: str | Any = "console",
    *,
    sample_ratio: float = 1.0,
    service_name: str = "rayobs",
    batch: bool = True,
) -> Any:
    """Install an SDK tracer provider for this process and return it.

    ``exporter``: ``"jsonl:DIR"`` (one JSON-lines file per process in DIR, so workers'
    spans can be collected without a collector), ``"console"``, ``"otlp"``, ``"memory"``
    (see :func:`memory_spans`), or a ``SpanExporter``. ``sample_ratio`` samples new
    traces; a call always follows its caller's decision (parent-based).
    """
    global _provider, _memory_exporter
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    from rayobs.tracing import _context

    if not 0.0 <= sample_ratio <= 1.0:
        raise ValueError(f"sample_ratio must be between 0 and 1, got {sample_ratio}")
    span_exporter = _span_exporter(exporter)
    resource = Resource.create({"service.name": service_name, "process.pid": os.getpid()})
    provider = TracerProvider(
        resource=resource, sampler=ParentBased(TraceIdRatioBased(sample_ratio))
    )
    if batch and not _is_memory(span_exporter):
        provider.add_span_processor(BatchSpanProcessor(span_exporter, schedule_delay_millis=500))
    else:
        provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    _set_tracer_provider(trace, provider)
    _provider = provider
    _context.reset(ratio=sample_ratio)
    _context._state.configured_from_env = True
    return provider


def _set_tracer_provider(trace: Any, provider: Any) -> None:
    # The API allows setting the global provider once per process; rayobs may set
    # it again (tests, reconfiguration), so it swaps the global it owns.
    from opentelemetry.trace import _TRACER_PROVIDER_SET_ONCE

    _TRACER_PROVIDER_SET_ONCE._done = False
    trace.set_tracer_provider(provider)


def _is_memory(exporter: Any) -> bool:
    return type(exporter).__name__ == "InMemorySpanExporter"


def _span_exporter(spec: str | Any) -> Any:
    global _memory_exporter
    if not isinstance(spec, str):
        return spec
    kind, _, arg = spec.partition(":")
    if kind == "jsonl":
        if not arg:
            raise ValueError("jsonl exporter needs a directory: jsonl:/path/to/dir")
        return JsonLinesSpanExporter(arg)
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if kind == "memory":
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        _memory_exporter = InMemorySpanExporter()
        return _memory_exporter
    if kind == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            try:
                from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                    OTLPSpanExporter,
                )
            except ImportError:
                raise ImportError(
                    "the otlp exporter needs: pip install opentelemetry-exporter-otlp"
                ) from None
        return OTLPSpanExporter()
    raise ValueError(f"unknown span exporter {spec!r}: use jsonl:DIR, console, otlp or memory")


def memory_spans() -> list[Any]:
    """Spans finished so far by a ``"memory"`` exporter in this process."""
    return [] if _memory_exporter is None else list(_memory_exporter.get_finished_spans())


def flush(timeout_ms: int = 5000) -> bool:
    """Export every finished span now (e.g. before a worker is killed)."""
    return True if _provider is None else bool(_provider.force_flush(timeout_ms))


def configure_tracing_from_env() -> None:
    """Configure tracing from ``RAYOBS_TRACE_EXPORTER``/``RAYOBS_TRACE_SAMPLE_RATIO``.

    Never raises: a bad setting is logged and tracing stays a no-op.
    """
    spec = _config.get(_config.TRACE_EXPORTER).strip()
    if not spec:
        return
    try:
        ratio = float(_config.get(_config.TRACE_SAMPLE_RATIO))
        configure_tracing(spec, sample_ratio=ratio)
    except Exception as exc:
        logger.warning("rayobs: tracing not configured from the environment: %s", exc)


def configure_metrics(reader: str | Any = "otlp", *, use_for_handles: bool = True) -> Any:
    """Install an SDK meter provider and (by default) record every rayobs handle through it.

    ``reader``: ``"otlp"`` (periodic OTLP export), ``"prometheus:PORT"`` (a Prometheus
    endpoint on 127.0.0.1:PORT), ``"memory"`` (an ``InMemoryMetricReader``, returned as
    ``provider.rayobs_reader``), or a ``MetricReader``.
    """
    from opentelemetry.sdk.metrics import MeterProvider

    import rayobs
    from rayobs.backends._otel import OtelBackend

    metric_reader = _metric_reader(reader)
    provider = MeterProvider(metric_readers=[metric_reader])
    provider.rayobs_reader = metric_reader  # type: ignore[attr-defined]
    if use_for_handles:
        rayobs.configure(backend=OtelBackend(provider))
    return provider


def _metric_reader(spec: str | Any) -> Any:
    if not isinstance(spec, str):
        return spec
    kind, _, arg = spec.partition(":")
    if kind == "memory":
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        return InMemoryMetricReader()
    if kind == "prometheus":
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import start_http_server

        port = int(arg or "9464")
        start_http_server(port, addr="127.0.0.1")
        return PrometheusMetricReader()
    if kind == "otlp":
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        try:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        except ImportError:
            raise ImportError(
                "the otlp reader needs: pip install opentelemetry-exporter-otlp"
            ) from None
        return PeriodicExportingMetricReader(OTLPMetricExporter())
    raise ValueError(f"unknown metric reader {spec!r}: use otlp, prometheus:PORT or memory")


def setup_worker() -> None:
    """Ray worker setup hook: tracing and OTel metrics from ``RAYOBS_*`` variables.

    For ``runtime_env={"worker_process_setup_hook": "rayobs.otel.setup_worker"}``.
    Never raises into the worker: problems are logged.
    """
    try:
        configure_tracing_from_env()
        metrics = _config.get(_config.OTEL_METRICS).strip()
        if metrics:
            configure_metrics(metrics)
    except Exception as exc:
        logger.warning("rayobs: OpenTelemetry worker setup failed: %s", exc)


class JsonLinesSpanExporter:
    """Writes each span as one JSON object per line to ``DIR/spans-<pid>.jsonl``.

    Every process writes its own file, so spans from all workers on a node can be
    collected (``read_spans(DIR)``) without running a collector.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()

    def _path(self) -> Path:
        return self.directory / f"spans-{os.getpid()}.jsonl"

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            lines = "".join(json.dumps(span_to_dict(s), default=str) + "\n" for s in spans)
            with self._lock, self._path().open("a", encoding="utf-8") as out:
                out.write(lines)
        except OSError as exc:
            logger.warning("rayobs: cannot write spans to %s: %s", self.directory, exc)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def span_to_dict(span: Any) -> dict[str, Any]:
    """A finished SDK span as plain data (ids in hex, times in unix nanoseconds)."""
    ctx = span.get_span_context()
    parent = span.parent
    return {
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent_span_id": f"{parent.span_id:016x}" if parent is not None else None,
        "name": span.name,
        "kind": span.kind.name,
        "start_time_unix_nano": span.start_time,
        "end_time_unix_nano": span.end_time,
        "status": {"code": span.status.status_code.name, "description": span.status.description},
        "attributes": dict(span.attributes or {}),
        "events": [{"name": e.name, "attributes": dict(e.attributes or {})} for e in span.events],
        "resource": dict(span.resource.attributes),
    }


def read_spans(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every span written by :class:`JsonLinesSpanExporter` under ``directory``."""
    spans: list[dict[str, Any]] = []
    for path in sorted(Path(directory).glob("spans-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                spans.append(json.loads(line))
    return spans
