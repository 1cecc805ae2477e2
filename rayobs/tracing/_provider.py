"""Who provides rayobs's spans: the one owner of the tracer provider and its state.

``configure_tracing`` builds an SDK provider and makes it current for rayobs and,
through one swappable global that rayobs installs once (OpenTelemetry lets a
process set its global provider only once), for everything else that traces in
the process: configuring again swaps what the global delegates to, and tracers
handed out before follow. If another library set the global first, rayobs leaves
it alone, says so once, and records its own spans through its own provider.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from opentelemetry import trace

from rayobs import _config

logger = logging.getLogger("rayobs")

_lock = threading.RLock()
_provider: Any = None  # the SDK provider configure_tracing built, if any
_memory_exporter: Any = None


class _State:
    tracer: Any = None  # rayobs's tracer, from the current provider
    configured = False  # by configure_tracing, or tried from the environment once
    # The root sampling ratio when rayobs configured the provider (parent-based), so
    # unsampled roots can skip the SDK; None when someone else's provider decides.
    ratio: float | None = None


_state = _State()


class _Swappable(trace.TracerProvider):
    """The global provider rayobs installs once; it delegates to the latest one configured."""

    def __init__(self) -> None:
        self.delegate: Any = trace.NoOpTracerProvider()
        self.generation = 0

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _SwappableTracer(self, args, kwargs)


class _SwappableTracer(trace.Tracer):
    """A tracer that follows its provider's current delegate."""

    def __init__(self, owner: _Swappable, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._owner = owner
        self._args = args
        self._kwargs = kwargs
        self._generation = -1
        self._real: Any = None

    def _tracer(self) -> Any:
        owner = self._owner
        if self._generation != owner.generation:
            self._real = owner.delegate.get_tracer(*self._args, **self._kwargs)
            self._generation = owner.generation
        return self._real

    def start_span(self, *args: Any, **kwargs: Any) -> Any:
        return self._tracer().start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return self._tracer().start_as_current_span(*args, **kwargs)


_global: _Swappable | None = None


def _install(provider: Any, *, ratio: float) -> None:
    """Make ``provider`` rayobs's, and the process's through the swappable global."""
    global _global
    with _lock:
        if _global is None:
            candidate = _Swappable()
            trace.set_tracer_provider(candidate)  # refused (and logged) if already set
            if trace.get_tracer_provider() is candidate:
                _global = candidate
            else:
                logger.warning(
                    "rayobs: another tracer provider is already the global one; rayobs "
                    "records its spans through its own, and leaves the global as it is"
                )
        if _global is not None:
            _global.delegate = provider
            _global.generation += 1
        _state.tracer = provider.get_tracer("rayobs")
        _state.configured = True
        _state.ratio = ratio
    # A process that only calls others (a driver calling Serve handles) hands its context on
    # too; the integrations' installers import nothing that is not loaded already.
    from rayobs import _extensions

    _extensions.install()


def tracer() -> Any:
    """The rayobs tracer; on first use, configures exporters from ``RAYOBS_TRACE_EXPORTER``."""
    found = _state.tracer
    if found is not None:
        return found
    with _lock:  # threaded actors: the first calls race to configure
        if _state.tracer is None:
            if not _state.configured:
                _state.configured = True
                configure_tracing_from_env()
            if _state.tracer is None:
                _state.tracer = trace.get_tracer("rayobs")
        return _state.tracer


def ratio() -> float | None:
    return _state.ratio


def forget() -> None:
    """Forget rayobs's tracer and configuration (``rayobs.testing.reset_tracing``)."""
    global _provider, _memory_exporter
    with _lock:
        _state.tracer = None
        _state.configured = False
        _state.ratio = None
        _provider = None
        _memory_exporter = None
        if _global is not None:
            _global.delegate = trace.NoOpTracerProvider()
            _global.generation += 1


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
    global _provider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

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
    _provider = provider
    _install(provider, ratio=sample_ratio)
    return provider


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
        from rayobs.tracing._exporters import JsonLinesSpanExporter

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
