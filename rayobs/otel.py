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

import logging
from typing import Any

from rayobs import _config
from rayobs.tracing._exporters import JsonLinesSpanExporter, read_spans, span_to_dict
from rayobs.tracing._provider import (
    configure_tracing,
    configure_tracing_from_env,
    flush,
    memory_spans,
)

logger = logging.getLogger("rayobs")

__all__ = [
    "JsonLinesSpanExporter",
    "configure_metrics",
    "configure_tracing",
    "configure_tracing_from_env",
    "flush",
    "memory_spans",
    "read_spans",
    "setup_worker",
    "span_to_dict",
]


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
