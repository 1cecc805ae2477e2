"""Definition-time validation: misuse raises at once, with a message that says what to do."""

from __future__ import annotations

import re

import pytest

import rayobs
from rayobs import MetricConflictError, MetricDefinitionError
from rayobs.metrics._spec import Kind, make_spec


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "non-empty"),
        ({"name": "1abc"}, "not starting with a digit"),
        ({"name": "bad-name"}, "'bad_name'"),
        ({"name": "has space"}, "invalid metric name"),
        ({"name": "with:colon"}, "invalid metric name"),
        ({"name": "__private"}, "reserved"),
        ({"name": "requests_total"}, "declare 'requests'"),
        ({"name": "x", "tag_keys": "route"}, "write tag_keys=('route',)"),
        ({"name": "x", "tag_keys": ("bad-key",)}, "invalid tag key"),
        ({"name": "x", "tag_keys": ("WorkerId",)}, "reserved"),
        ({"name": "x", "tag_keys": ("a", "a")}, "duplicate tag keys"),
        ({"name": "x", "default_tags": {"a": "b"}}, "not one of tag_keys"),
        ({"name": "x", "tag_keys": ("a",), "default_tags": {"a": 1}}, "must be a string"),
        ({"name": "latency", "unit": "seconds"}, "latency_seconds"),
        ({"name": "x", "max_cardinality": 0}, "positive integer"),
    ],
)
def test_counter_definition_errors(kwargs: dict, message: str) -> None:
    name = kwargs.pop("name")
    with pytest.raises(MetricDefinitionError, match=re.escape(message)):
        rayobs.Counter(name, **kwargs)


@pytest.mark.parametrize(
    ("boundaries", "message"),
    [
        (None, "boundaries are required"),
        ((), "must not be empty"),
        ((1, 0.5), "strictly increasing"),
        ((1, 1), "strictly increasing and unique"),
        ((0, 1), "positive"),
        ((-1, 1), "positive"),
        ((1, float("inf")), "finite"),
        (("a",), "must be numbers"),
        (tuple(range(1, 100)), "at most"),
    ],
)
def test_histogram_boundary_errors(boundaries: object, message: str) -> None:
    with pytest.raises(MetricDefinitionError, match=re.escape(message)):
        rayobs.Histogram("h_seconds", boundaries=boundaries, unit="seconds")  # type: ignore[arg-type]


def test_histogram_reserved_suffix_and_gauge_boundaries() -> None:
    with pytest.raises(MetricDefinitionError, match="'_bucket'"):
        rayobs.Histogram("h_bucket", boundaries=(1,))
    with pytest.raises(MetricDefinitionError, match="only histograms"):
        make_spec(Kind.GAUGE, "g", boundaries=(1,))


def test_same_spec_twice_is_the_same_metric() -> None:
    a = rayobs.Counter("dup_ok", "d", tag_keys=("k",))
    b = rayobs.Counter("dup_ok", "d", tag_keys=("k",))
    assert a == b and hash(a) == hash(b)


def test_conflicting_redeclaration_names_what_differs() -> None:
    rayobs.Counter("dup_bad", "first", tag_keys=("k",))
    with pytest.raises(MetricConflictError) as info:
        rayobs.Counter("dup_bad", "second", tag_keys=("k", "j"))
    assert set(info.value.differences) == {"description", "tag_keys"}
    assert "description: 'first' was declared, now 'second'" in str(info.value)
    with pytest.raises(MetricConflictError, match="kind"):
        rayobs.Gauge("dup_bad", "first", tag_keys=("k",))
