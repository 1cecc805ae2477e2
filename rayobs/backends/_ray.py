"""The Ray backend: ``ray.util.metrics``, exported by each node's metrics agent.

Ray prefixes every name with ``ray_`` on export and adds the labels
``Component``, ``NodeAddress``, ``SessionName``, ``Version`` and ``WorkerId``.
A Ray metric object is created once per process per name (constructing a Ray
histogram costs more the more histograms a process already has) and each child
holds its complete tag dict, so a record is one call into Ray.
"""

from __future__ import annotations

import threading
from typing import Any

from rayobs.backends._base import SetOnlyGauge
from rayobs.metrics._spec import Kind, MetricSpec


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


class _GaugeChild(SetOnlyGauge):
    """Ray gauges only have ``set``: the child keeps this process's value for inc/dec.

    Ray drops a gauge series that was not set within about two export intervals,
    so a gauge set once (money in a bank, a queue's size) would vanish from
    Prometheus seconds later. The backend's keeper re-sets every gauge that has
    a value, while the process lives.

    ``inc``/``dec`` are atomic (``SetOnlyGauge``); the keeper re-sets under the
    same lock, so it never writes back a stale value.
    """

    __slots__ = ("keeper", "metric", "tags")

    def __init__(self, metric: Any, tags: dict[str, str], keeper: _GaugeKeeper) -> None:
        super().__init__()
        self.metric = metric
        self.tags = tags
        self.keeper: _GaugeKeeper | None = keeper  # until the first set hands it over

    def _record(self, value: float) -> None:
        """Under the lock: store ``value`` and record it to Ray."""
        self.value = value
        self.metric.set(value, self.tags)
        if self.keeper is not None:
            self.keeper.keep(self)
            self.keeper = None

    def keep_alive(self) -> None:
        """Set the current value again (never a stale one: under the lock)."""
        with self.lock:
            self.metric.set(self.value, self.tags)


class _HistogramChild:
    __slots__ = ("metric", "tags")

    def __init__(self, metric: Any, tags: dict[str, str]) -> None:
        self.metric = metric
        self.tags = tags

    def observe(self, value: float) -> None:
        self.metric.observe(value, self.tags)


class _GaugeKeeper:
    """A daemon thread re-setting every gauge child that has a value, each half interval."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._children: list[_GaugeChild] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def keep(self, child: _GaugeChild) -> None:
        with self._lock:
            self._children.append(child)
            self._start()

    def start(self) -> None:
        """Start the thread now (when a gauge is created), not at its first value."""
        with self._lock:
            self._start()

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="rayobs-gauge-keeper", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        from rayobs.metrics import _failures

        stop = self._stop
        while not stop.wait(self.interval_s):
            with self._lock:
                children = list(self._children)
            for child in children:
                try:
                    child.keep_alive()
                except Exception as exc:
                    with _failures.in_background():
                        _failures.report(child.metric._name, "keep-alive", exc)

    def stop(self) -> None:
        """Stop the thread and forget the children; a later ``keep`` starts afresh."""
        with self._lock:
            self._stop.set()
            self._stop = threading.Event()
            self._children.clear()
            self._thread = None


class _Instrument:
    __slots__ = ("keeper", "kind", "metric")

    def __init__(self, metric: Any, kind: Kind, keeper: _GaugeKeeper) -> None:
        self.metric = metric
        self.kind = kind
        self.keeper = keeper

    def bind(self, tags: dict[str, str]) -> Any:
        if self.kind is Kind.GAUGE:
            return _GaugeChild(self.metric, dict(tags), self.keeper)
        if self.kind is Kind.COUNTER:
            return _CounterChild(self.metric, dict(tags))
        return _HistogramChild(self.metric, dict(tags))


class RayBackend:
    """Records through ``ray.util.metrics`` (needs a Ray worker or a connected driver)."""

    name = "ray"

    def __init__(self) -> None:
        import ray
        from ray.util import metrics  # imported here: importing rayobs never imports Ray

        self._metrics = metrics
        try:
            # Ray exports every max(metrics_report_interval_ms, 1 s) and drops gauges
            # not set within two exports: re-set them twice per export.
            interval_ms = max(int(ray._config.metrics_report_interval_ms()), 1000)
        except Exception:
            interval_ms = 10_000
        self.keeper = _GaugeKeeper(interval_ms / 2000)

    def close(self) -> None:
        """Stop re-setting gauges (the backend is being replaced)."""
        self.keeper.stop()

    def create(self, spec: MetricSpec) -> _Instrument:
        m = self._metrics
        if spec.kind is Kind.COUNTER:
            metric = m.Counter(spec.name, description=spec.description, tag_keys=spec.tag_keys)
        elif spec.kind is Kind.GAUGE:
            metric = m.Gauge(spec.name, description=spec.description, tag_keys=spec.tag_keys)
            # a thread start costs a worker tens of milliseconds on a busy machine:
            # here, not in the push that follows a call
            self.keeper.start()
        else:
            metric = m.Histogram(
                spec.name,
                description=spec.description,
                boundaries=list(spec.boundaries),
                tag_keys=spec.tag_keys,
            )
        return _Instrument(metric, spec.kind, self.keeper)
