"""The options of ``rayobs.instrument``, validated once, at decoration time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rayobs import _config
from rayobs._errors import MetricDefinitionError
from rayobs.metrics import _catalog, _own
from rayobs.metrics._handles import Histogram

ALL_METRICS = frozenset(_catalog.CALL_METRICS)


@dataclass(frozen=True)
class Options:
    name: str | None
    tags: tuple[tuple[str, str], ...]
    metrics: frozenset[str]
    duration: Any
    include: frozenset[str] | None
    exclude: frozenset[str]
    check_serializable: bool
    trace: bool
    memory: bool = False
    auto: bool = False  # made by auto mode: replaced by an explicit instrument

    @classmethod
    def build(
        cls,
        name: str | None,
        tags: Mapping[str, str] | None,
        metrics: Iterable[str] | None,
        duration_histogram: Any,
        include: Iterable[str] | None,
        exclude: Iterable[str] | None,
        check_serializable: bool,
        trace: bool | None,
    ) -> Options:
        """Validate ``instrument``'s options: misuse raises at decoration time."""
        if name is not None and (not isinstance(name, str) or not name):
            raise MetricDefinitionError(
                f"instrument(name=...) must be a non-empty string: {name!r}"
            )
        tag_map = dict(tags or {})
        unknown = sorted(set(tag_map) - set(_catalog.EXTRA_TAG_KEYS))
        if unknown:
            raise MetricDefinitionError(
                f"instrument(tags=...): unknown keys {unknown}; use {_catalog.EXTRA_TAG_KEYS} "
                "(a metric family has one fixed set of tag keys), or record your own "
                "rayobs handles for other tags"
            )
        for key, value in tag_map.items():
            if not isinstance(value, str):
                raise MetricDefinitionError(
                    f"instrument(tags=...): {key}={value!r} must be a string"
                )
        chosen = ALL_METRICS if metrics is None else frozenset(metrics)
        if isinstance(metrics, str) or not chosen <= ALL_METRICS:
            raise MetricDefinitionError(
                f"instrument(metrics=...): choose from {sorted(ALL_METRICS)}, got {metrics!r}"
            )
        if duration_histogram is not None:
            _check_duration_histogram(duration_histogram)
        return cls(
            name=name,
            tags=tuple(sorted(tag_map.items())),
            metrics=chosen,
            duration=_own.CALL_DURATION if duration_histogram is None else duration_histogram,
            include=None if include is None else frozenset(include),
            exclude=frozenset(exclude or ()),
            check_serializable=check_serializable,
            trace=_config.get_bool(_config.TRACE) if trace is None else bool(trace),
        )


def packed(metrics: frozenset[str], duration: Any) -> tuple[frozenset[str] | None, Any]:
    """``metrics`` and ``duration`` to pickle, the defaults as None.

    An instrumented callable's records and Hamilton's adapter travel with every
    task that carries them; the default duration histogram's whole spec is about
    640 bytes. ``unpacked`` reverses it.
    """
    return (
        None if metrics == ALL_METRICS else metrics,
        None if duration is _own.CALL_DURATION else duration,
    )


def unpacked(metrics: frozenset[str] | None, duration: Any) -> tuple[frozenset[str], Any]:
    """What ``packed`` gave, with the defaults back."""
    return (
        ALL_METRICS if metrics is None else metrics,
        _own.CALL_DURATION if duration is None else duration,
    )


def _check_duration_histogram(histogram: Any) -> None:

    if not isinstance(histogram, Histogram):
        raise MetricDefinitionError("duration_histogram must be a rayobs.Histogram")
    fillable = (*_catalog.CALL_TAG_KEYS, "outcome")
    extra = set(histogram.spec.tag_keys) - set(fillable)
    if extra:
        raise MetricDefinitionError(
            f"duration_histogram {histogram.name!r} has tag keys {sorted(extra)} the wrapper "
            f"cannot fill; use a subset of {fillable}"
        )
