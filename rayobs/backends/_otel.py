"""The OpenTelemetry backend: SDK meters from the global (or a given) meter provider.

Histograms pass their boundaries as explicit bucket advice, so seconds stay
seconds (the SDK's default buckets are meant for milliseconds).
"""

from __future__ import annotations

from typing import Any

from rayobs.backends._base import SetOnlyGauge
from rayobs.metrics._spec import Kind, MetricSpec


class _CounterChild:
    __slots__ = ("attributes", "instrument")

    def __init__(self, instrument: Any, attributes: dict[str, str]) -> None:
        self.instrument = instrument
        self.attributes = attributes

    def inc(self, value: float = 1.0) -> None:
        if value < 0:
            raise ValueError(f"counters only go up; got inc({value!r})")
        self.instrument.add(value, self.attributes)


class _GaugeChild(SetOnlyGauge):
    """A synchronous OTel gauge only has ``set``: see ``SetOnlyGauge``."""

    __slots__ = ("attributes", "instrument")

    def __init__(self, instrument: Any, attributes: dict[str, str]) -> None:
        super().__init__()
        self.instrument = instrument
        self.attributes = attributes

    def _record(self, value: float) -> None:
        self.value = value
        self.instrument.set(value, self.attributes)


class _HistogramChild:
    __slots__ = ("attributes", "instrument")

    def __init__(self, instrument: Any, attributes: dict[str, str]) -> None:
        self.instrument = instrument
        self.attributes = attributes

    def observe(self, value: float) -> None:
        self.instrument.record(value, self.attributes)


_CHILDREN = {Kind.COUNTER: _CounterChild, Kind.GAUGE: _GaugeChild, Kind.HISTOGRAM: _HistogramChild}


class _Instrument:
    __slots__ = ("child_class", "instrument")

    def __init__(self, instrument: Any, kind: Kind) -> None:
        self.instrument = instrument
        self.child_class = _CHILDREN[kind]

    def bind(self, tags: dict[str, str]) -> Any:
        return self.child_class(self.instrument, dict(tags))


class OtelBackend:
    """Records into OpenTelemetry meters (``meter_provider`` defaults to the global one)."""

    name = "otel"

    def __init__(self, meter_provider: Any = None) -> None:
        from opentelemetry import metrics

        provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        self.meter = provider.get_meter("rayobs")

    def create(self, spec: MetricSpec) -> _Instrument:
        common: dict[str, Any] = {"name": spec.name, "description": spec.description}
        if spec.unit:
            common["unit"] = spec.unit
        if spec.kind is Kind.COUNTER:
            instrument = self.meter.create_counter(**common)
        elif spec.kind is Kind.GAUGE:
            instrument = self.meter.create_gauge(**common)
        else:
            instrument = self.meter.create_histogram(
                **common, explicit_bucket_boundaries_advisory=list(spec.boundaries)
            )
        return _Instrument(instrument, spec.kind)
