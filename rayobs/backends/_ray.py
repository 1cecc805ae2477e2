"""The Ray backend: ``ray.util.metrics``, exported by each node's metrics agent.

Ray prefixes every name with ``ray_`` on export and adds the labels
``Component``, ``NodeAddress``, ``SessionName``, ``Version`` and ``WorkerId``.
A Ray metric object is created once per process per name (constructing a Ray
histogram costs more the more histograms a process already has) and each child
holds its complete tag dict, so a record is one call into Ray.
"""

from __future__ import annotations

from typing import Any

from rayobs._spec import Kind, MetricSpec


class _CounterChild:
    __slots__ = ("metric", "tags")

    def __init__(self, metric: Any, tags: dict[str, str]) -> None:
        self.metric = metric
        self.tags = tags

    def inc(self, value: float = 1.0) -> None:
        if value:  # Ray refuses inc(0); for a counter it is a no-op anyway
            if value < 0:
                raise ValueError(f"counters only go up; got inc({value!r})")
            self.metric.inc(value, self.tags)


class _GaugeChild:
    """Ray gauges only have ``set``: the child keeps this process's value for inc/dec."""

    __slots__ = ("metric", "tags", "value")

    def __init__(self, metric: Any, tags: dict[str, str]) -> None:
        self.metric = metric
        self.tags = tags
        self.value = 0.0

    def set(self, value: float) -> None:
        self.value = float(value)
        self.metric.set(self.value, self.tags)

    def inc(self, value: float = 1.0) -> None:
        self.set(self.value + value)

    def dec(self, value: float = 1.0) -> None:
        self.set(self.value - value)


class _HistogramChild:
    __slots__ = ("metric", "tags")

    def __init__(self, metric: Any, tags: dict[str, str]) -> None:
        self.metric = metric
        self.tags = tags

    def observe(self, value: float) -> None:
        self.metric.observe(value, self.tags)


_CHILDREN = {Kind.COUNTER: _CounterChild, Kind.GAUGE: _GaugeChild, Kind.HISTOGRAM: _HistogramChild}


class _Instrument:
    __slots__ = ("child_class", "metric")

    def __init__(self, metric: Any, kind: Kind) -> None:
        self.metric = metric
        self.child_class = _CHILDREN[kind]

    def bind(self, tags: dict[str, str]) -> Any:
        return self.child_class(self.metric, dict(tags))


class RayBackend:
    """Records through ``ray.util.metrics`` (needs a Ray worker or a connected driver)."""

    name = "ray"

    def __init__(self) -> None:
        from ray.util import metrics  # imported here: importing rayobs never imports Ray

        self._metrics = metrics

    def create(self, spec: MetricSpec) -> _Instrument:
        m = self._metrics
        if spec.kind is Kind.COUNTER:
            metric = m.Counter(spec.name, description=spec.description, tag_keys=spec.tag_keys)
        elif spec.kind is Kind.GAUGE:
            metric = m.Gauge(spec.name, description=spec.description, tag_keys=spec.tag_keys)
        else:
            metric = m.Histogram(
                spec.name,
                description=spec.description,
                boundaries=list(spec.boundaries),
                tag_keys=spec.tag_keys,
            )
        return _Instrument(metric, spec.kind)
