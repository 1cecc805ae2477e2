"""The prometheus and OpenTelemetry backends, read back through their own exposition."""

from __future__ import annotations

import sys
import threading
import urllib.request
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

import rayobs
from rayobs.backends._prometheus import PrometheusBackend
from tests import requires


def test_prometheus_backend_served_on_loopback() -> None:
    registry = CollectorRegistry()
    rayobs.configure(backend=PrometheusBackend(registry), strict=True)
    calls = rayobs.Counter("p_calls", "Calls.", tag_keys=("route",), default_tags={"route": "/"})
    queue = rayobs.Gauge("p_queue", "Queue.")
    wait = rayobs.Histogram("p_wait_seconds", "Wait.", boundaries=(0.1, 1), unit="seconds")
    calls.inc()
    calls.inc(2, tags={"route": "/x"})
    queue.set(3)
    queue.dec()
    wait.observe(0.5)
    port = rayobs.serve_metrics(0, registry=registry)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'p_calls_total{route="/"} 1.0' in text
    assert 'p_calls_total{route="/x"} 2.0' in text
    assert "p_queue 2.0" in text
    assert 'p_wait_seconds_bucket{le="1.0"} 1.0' in text
    assert "p_wait_seconds_count 1.0" in text


def test_prometheus_backend_survives_a_reset_with_the_same_registry() -> None:
    registry = CollectorRegistry()
    rayobs.configure(backend=PrometheusBackend(registry))
    c = rayobs.Counter("p_reset")
    c.inc()
    rayobs.configure(backend=PrometheusBackend(registry))  # a second backend, same registry
    c.inc()
    assert registry.get_sample_value("p_reset_total") == 2.0


def test_otel_backend_with_seconds_buckets() -> None:
    metrics_sdk = requires.module("opentelemetry.sdk.metrics", "otel")
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from rayobs.backends._otel import OtelBackend

    reader = InMemoryMetricReader()
    provider = metrics_sdk.MeterProvider(metric_readers=[reader])
    rayobs.configure(backend=OtelBackend(provider), strict=True)
    c = rayobs.Counter("o_calls", tag_keys=("k",))
    g = rayobs.Gauge("o_level")
    h = rayobs.Histogram("o_wait_seconds", boundaries=(0.1, 1.0), unit="seconds")
    c.inc(3, tags={"k": "a"})
    g.set(5)
    g.inc(2)
    h.observe(0.5)
    data = reader.get_metrics_data()
    found = {
        m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
    }
    assert found["o_calls"].data.data_points[0].value == 3
    assert dict(found["o_calls"].data.data_points[0].attributes) == {"k": "a"}
    assert found["o_level"].data.data_points[0].value == 7
    point = found["o_wait_seconds"].data.data_points[0]
    assert found["o_wait_seconds"].unit == "seconds"
    assert tuple(point.explicit_bounds) == (0.1, 1.0)
    assert list(point.bucket_counts) == [0, 1, 0]


# ------------------------------------------------- concurrent inc/dec on a gauge

THREADS, ROUNDS = 8, 10_000


def _read_gauge(backend_name: str, setup: Any, handle: rayobs.Gauge) -> float:
    if backend_name == "memory":
        value = setup.value(handle.name)
        assert value is not None
        return float(value)
    if backend_name == "prometheus":
        value = setup.get_sample_value(handle.name)
        assert value is not None
        return float(value)
    if backend_name == "otel":
        data = setup.get_metrics_data()
        points = [
            p
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            if m.name == handle.name
            for p in m.data.data_points
        ]
        return float(points[0].value)
    # ray: what rayobs last recorded into ray.util.metrics (the Prometheus side is
    # tests/integration/test_handles_on_ray.py)
    return float(handle._bind(None).value)


def _backend(name: str) -> tuple[Any, Any]:
    """(backend, what reads it back)."""
    if name == "memory":
        from rayobs.testing import MemoryBackend

        memory = MemoryBackend()
        return memory, memory
    if name == "prometheus":
        registry = CollectorRegistry()
        return PrometheusBackend(registry), registry
    if name == "otel":
        metrics_sdk = requires.module("opentelemetry.sdk.metrics", "otel")
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        from rayobs.backends._otel import OtelBackend

        reader = InMemoryMetricReader()
        return OtelBackend(metrics_sdk.MeterProvider(metric_readers=[reader])), reader
    requires.module("ray", "ray")
    from rayobs.backends._ray import RayBackend

    return RayBackend(), None


@pytest.mark.parametrize("backend_name", ["memory", "prometheus", "otel", "ray"])
def test_concurrent_inc_and_dec_lose_no_update(backend_name: str) -> None:
    backend, reader = _backend(backend_name)
    rayobs.configure(backend=backend, strict=True)
    level = rayobs.Gauge(f"race_level_{backend_name}", "Level.")
    level.set(0)
    start = threading.Barrier(THREADS)

    def work(k: int) -> None:
        start.wait()
        for i in range(ROUNDS):
            if (i + k) % 3:  # two incs of 2 for every dec of 1
                level.inc(2)
            else:
                level.dec()

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        threads = [threading.Thread(target=work, args=(k,)) for k in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(previous)
    want = sum(2 if (i + k) % 3 else -1 for k in range(THREADS) for i in range(ROUNDS))
    assert _read_gauge(backend_name, reader, level) == want
