"""The prometheus_client backend, for code outside Ray and for local runs.

Metrics go into a ``CollectorRegistry`` (prometheus_client's global one unless
another is given), so an existing ``start_http_server`` exposes them, or
``rayobs.serve_metrics(port)`` does on 127.0.0.1.
"""

from __future__ import annotations

import bisect
import threading
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry

from rayobs.metrics._spec import Kind, MetricSpec

_CLASSES = {
    Kind.COUNTER: prometheus_client.Counter,
    Kind.GAUGE: prometheus_client.Gauge,
    Kind.HISTOGRAM: prometheus_client.Histogram,
}

# Collectors outlive backend instances: a registry refuses a second collector
# of the same name, and a reset (or a new backend) must find the first again.
_collectors: dict[tuple[int, str], tuple[MetricSpec, Any]] = {}
_lock = threading.Lock()


class _Instrument:
    __slots__ = ("metric", "tag_keys")

    def __init__(self, metric: Any, tag_keys: tuple[str, ...]) -> None:
        self.metric = metric
        self.tag_keys = tag_keys

    @staticmethod
    def observe_many(child: Any, value: float, count: int) -> None:
        """``count`` observations of ``value`` in two updates, where ``observe`` would
        make ``count`` of each: the histogram's own sum and bucket values."""
        try:
            total, buckets, bounds = child._sum, child._buckets, child._upper_bounds
        except AttributeError:  # a folded child, or a prometheus_client that changed
            for _ in range(count):
                child.observe(value)
            return
        total.inc(value * count)
        buckets[bisect.bisect_left(bounds, value)].inc(count)

    def bind(self, tags: dict[str, str]) -> Any:
        if not self.tag_keys:
            return self.metric
        return self.metric.labels(*[tags[k] for k in self.tag_keys])


class PrometheusBackend:
    """Records into prometheus_client collectors registered in ``registry``."""

    name = "prometheus"

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else prometheus_client.REGISTRY

    def create(self, spec: MetricSpec) -> _Instrument:
        key = (id(self.registry), spec.name)
        with _lock:
            known = _collectors.get(key)
            if known is not None and known[0] == spec:
                return _Instrument(known[1], spec.tag_keys)
            if known is not None:
                self.registry.unregister(known[1])
            metric = self._new_collector(spec)
            _collectors[key] = (spec, metric)
        return _Instrument(metric, spec.tag_keys)

    def _new_collector(self, spec: MetricSpec) -> Any:
        kwargs: dict[str, Any] = {
            "name": spec.name,
            "documentation": spec.description or spec.name,
            "labelnames": spec.tag_keys,
            "registry": self.registry,
        }
        if spec.unit:
            kwargs["unit"] = spec.unit
        if spec.kind is Kind.HISTOGRAM:
            kwargs["buckets"] = (*spec.boundaries, float("inf"))
        return _CLASSES[spec.kind](**kwargs)
