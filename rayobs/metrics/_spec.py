"""Metric specifications and their validation.

A spec is everything that defines a metric, frozen. It is what a handle pickles,
what the registry compares to detect conflicting declarations, and what the
catalog, dashboards and alert rules are generated from.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from enum import Enum

from rayobs._errors import MetricDefinitionError


class Kind(str, Enum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_TAG_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

# Labels Ray's metrics agent attaches to every sample.
RAY_LABELS = frozenset({"Component", "NodeAddress", "SessionName", "Version", "WorkerId", "JobId"})
# ...which a tag may not use, nor Prometheus' own histogram and summary labels.
RESERVED_TAG_KEYS = RAY_LABELS | {"le", "quantile"}

# Suffixes the exporters add themselves; declaring them doubles them on export.
_RESERVED_SUFFIXES = {
    Kind.COUNTER: ("_total", "_created"),
    Kind.GAUGE: (),
    Kind.HISTOGRAM: ("_bucket", "_count", "_sum", "_created"),
}

MAX_NAME_LENGTH = 200
# Every Ray worker pushes a sample per bucket per tag set: keep layouts modest.
MAX_BUCKETS = 60


@dataclass(frozen=True)
class MetricSpec:
    """The frozen definition of one metric.

    ``default_tags`` is a sorted tuple of ``(key, value)`` pairs so the spec
    stays hashable; use :meth:`default_tags_dict` for a mapping.
    """

    kind: Kind
    name: str
    description: str = ""
    tag_keys: tuple[str, ...] = ()
    default_tags: tuple[tuple[str, str], ...] = ()
    unit: str = ""
    boundaries: tuple[float, ...] = ()
    max_cardinality: int | None = None

    def default_tags_dict(self) -> dict[str, str]:
        return dict(self.default_tags)

    def differences(self, other: MetricSpec) -> dict[str, tuple[object, object]]:
        """Fields whose values differ between ``self`` and ``other``."""
        return {
            f.name: (getattr(self, f.name), getattr(other, f.name))
            for f in fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        }


def make_spec(
    kind: Kind,
    name: str,
    description: str = "",
    tag_keys: Iterable[str] = (),
    default_tags: Mapping[str, str] | None = None,
    unit: str = "",
    boundaries: Iterable[float] | None = None,
    max_cardinality: int | None = None,
) -> MetricSpec:
    """Validate the arguments of a metric declaration and return its spec.

    Raises ``MetricDefinitionError`` with an actionable message on any problem:
    Ray only warns about a bad name and then drops every sample silently.
    """
    _check_name(kind, name, unit)
    if not isinstance(description, str):
        raise MetricDefinitionError(f"metric {name!r}: description must be a string")
    keys = _check_tag_keys(name, tag_keys)
    defaults = _check_default_tags(name, keys, default_tags or {})
    bounds: tuple[float, ...] = ()
    if kind is Kind.HISTOGRAM:
        if boundaries is None:
            raise MetricDefinitionError(
                f"histogram {name!r}: boundaries are required, e.g. "
                "boundaries=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 5) for seconds"
            )
        bounds = _check_boundaries(name, boundaries)
    elif boundaries is not None:
        raise MetricDefinitionError(f"{kind.value} {name!r}: only histograms take boundaries")
    if max_cardinality is not None and (
        not isinstance(max_cardinality, int)
        or isinstance(max_cardinality, bool)
        or max_cardinality < 1
    ):
        raise MetricDefinitionError(
            f"metric {name!r}: max_cardinality must be a positive integer, got {max_cardinality!r}"
        )
    return MetricSpec(kind, name, description, keys, defaults, unit, bounds, max_cardinality)


def _check_name(kind: Kind, name: object, unit: str) -> None:
    if not isinstance(name, str) or not name:
        raise MetricDefinitionError(f"metric name must be a non-empty string, got {name!r}")
    if len(name) > MAX_NAME_LENGTH:
        raise MetricDefinitionError(
            f"metric name {name[:40]!r}... is longer than {MAX_NAME_LENGTH}"
        )
    if not _NAME_RE.match(name):
        raise MetricDefinitionError(
            f"invalid metric name {name!r}: use letters, digits and underscores, not starting "
            f"with a digit (e.g. {_suggest(name)!r}). Ray would warn and silently drop it."
        )
    if name.startswith("__"):
        raise MetricDefinitionError(f"invalid metric name {name!r}: '__' prefixes are reserved")
    for suffix in _RESERVED_SUFFIXES[kind]:
        if name.endswith(suffix):
            raise MetricDefinitionError(
                f"{kind.value} name {name!r} ends with {suffix!r}, which the exporter adds "
                f"itself: declare {name[: -len(suffix)]!r}"
            )
    if not isinstance(unit, str):
        raise MetricDefinitionError(f"metric {name!r}: unit must be a string, got {unit!r}")
    if unit:
        if not _TAG_RE.match(unit):
            raise MetricDefinitionError(f"metric {name!r}: invalid unit {unit!r}")
        if not name.endswith("_" + unit):
            raise MetricDefinitionError(
                f"metric {name!r} has unit {unit!r} but its name does not end with '_{unit}'; "
                f"name it {name + '_' + unit!r} so every backend exports the same name"
            )


def _suggest(name: str) -> str:
    cleaned = re.sub(r"[^a-zA-Z0-9_]", "_", name)
    return cleaned if cleaned and not cleaned[0].isdigit() else "m_" + cleaned


def _check_tag_keys(name: str, tag_keys: Iterable[str]) -> tuple[str, ...]:
    if isinstance(tag_keys, str):
        raise MetricDefinitionError(
            f"metric {name!r}: tag_keys must be a sequence of names, not the string "
            f"{tag_keys!r}; write tag_keys=({tag_keys!r},)"
        )
    keys = tuple(tag_keys)
    for key in keys:
        if not isinstance(key, str) or not _TAG_RE.match(key):
            raise MetricDefinitionError(
                f"metric {name!r}: invalid tag key {key!r}: use letters, digits and underscores"
            )
        if key.startswith("__"):
            raise MetricDefinitionError(f"metric {name!r}: tag key {key!r}: '__' is reserved")
        if key in RESERVED_TAG_KEYS:
            raise MetricDefinitionError(
                f"metric {name!r}: tag key {key!r} is reserved (Ray or Prometheus sets it); "
                "choose another name"
            )
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise MetricDefinitionError(f"metric {name!r}: duplicate tag keys {dupes}")
    return keys


def _check_default_tags(
    name: str, keys: tuple[str, ...], default_tags: Mapping[str, str]
) -> tuple[tuple[str, str], ...]:
    if not isinstance(default_tags, Mapping):
        raise MetricDefinitionError(f"metric {name!r}: default_tags must be a mapping")
    for key, value in default_tags.items():
        if key not in keys:
            raise MetricDefinitionError(
                f"metric {name!r}: default tag {key!r} is not one of tag_keys {keys}; "
                f"add it to tag_keys"
            )
        if not isinstance(value, str):
            raise MetricDefinitionError(
                f"metric {name!r}: default tag {key}={value!r} must be a string"
            )
    return tuple(sorted(default_tags.items()))


def _check_boundaries(name: str, boundaries: Iterable[float]) -> tuple[float, ...]:
    try:
        bounds = tuple(float(b) for b in boundaries)
    except (TypeError, ValueError):
        raise MetricDefinitionError(
            f"histogram {name!r}: boundaries must be numbers, got {boundaries!r}"
        ) from None
    if not bounds:
        raise MetricDefinitionError(f"histogram {name!r}: boundaries must not be empty")
    if len(bounds) > MAX_BUCKETS:
        raise MetricDefinitionError(
            f"histogram {name!r}: {len(bounds)} boundaries; at most {MAX_BUCKETS} keep the "
            "series count sane"
        )
    for b in bounds:
        if not math.isfinite(b) or b <= 0:
            raise MetricDefinitionError(
                f"histogram {name!r}: boundaries must be positive and finite, got {b!r} "
                "(the +Inf bucket is added for you)"
            )
    for lo, hi in itertools.pairwise(bounds):
        if hi <= lo:
            raise MetricDefinitionError(
                f"histogram {name!r}: boundaries must be strictly increasing and unique, "
                f"got {lo!r} then {hi!r}"
            )
    return bounds
