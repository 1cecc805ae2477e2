"""PromQL arithmetic of rayobs top against hand-computed values."""

from __future__ import annotations

import math

import pytest

from rayobs.top._math import counter_increase, histogram_quantile

INF = math.inf
# cumulative counts: 2 at ≤0.1 s, 6 at ≤0.5 s, 8 in all
BUCKETS = [(0.1, 2.0), (0.5, 6.0), (INF, 8.0)]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (0.5, 0.3),  # rank 4 in (0.1, 0.5]: 0.1 + 0.4 * (4-2)/(6-2)
        (0.25, 0.1),  # rank 2 fills the lowest bucket exactly
        (0.1, 0.04),  # rank 0.8 in (0, 0.1]: the lowest bucket starts at 0
        (0.75, 0.5),  # rank 6: the top of the second bucket
        (0.99, 0.5),  # rank 7.92 in +Inf: the highest finite bound
        (1.0, 0.5),
        (0.0, 0.0),
    ],
)
def test_quantile_interpolates_like_promql(q: float, expected: float) -> None:
    assert histogram_quantile(q, BUCKETS) == pytest.approx(expected, abs=1e-12)


def test_quantile_order_of_buckets_does_not_matter() -> None:
    assert histogram_quantile(0.5, reversed(BUCKETS)) == pytest.approx(0.3)


@pytest.mark.parametrize(
    "buckets",
    [
        [(0.1, 2.0), (0.5, 6.0)],  # no +Inf bucket
        [(INF, 5.0)],  # fewer than two buckets
        [(0.1, 0.0), (0.5, 0.0), (INF, 0.0)],  # no observation in the window
        [],
    ],
)
def test_quantile_is_nan_without_a_usable_histogram(buckets: list[tuple[float, float]]) -> None:
    assert math.isnan(histogram_quantile(0.5, buckets))


def test_quantile_out_of_range_and_nan_q() -> None:
    assert histogram_quantile(-0.1, BUCKETS) == -INF
    assert histogram_quantile(1.1, BUCKETS) == INF
    assert math.isnan(histogram_quantile(math.nan, BUCKETS))


def test_quantile_lowest_bound_at_or_below_zero_is_the_answer() -> None:
    assert histogram_quantile(0.5, [(0.0, 3.0), (1.0, 4.0), (INF, 4.0)]) == 0.0
    assert histogram_quantile(0.2, [(-1.0, 3.0), (1.0, 4.0), (INF, 4.0)]) == -1.0


def test_quantile_zero_over_empty_lowest_bucket_is_nan() -> None:
    assert math.isnan(histogram_quantile(0.0, [(0.1, 0.0), (1.0, 4.0), (INF, 4.0)]))


def test_quantile_repairs_non_monotonic_and_duplicate_buckets() -> None:
    # counts 5, 3, 6 become 5, 5, 6: rank 3 falls in the lowest bucket
    assert histogram_quantile(0.5, [(0.1, 5.0), (0.5, 3.0), (INF, 6.0)]) == pytest.approx(0.06)
    # two series with le=0.1 add up (2 in all): rank 2 fills it
    assert histogram_quantile(0.5, [(0.1, 1.0), (0.1, 1.0), (INF, 4.0)]) == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([3.0, 5.0, 2.0, 4.0], 6.0),  # +2, reset (2 counts in full), +2
        ([10.0, 3.0], 3.0),  # a restarted worker: the value after the drop is all new
        ([10.0, 0.0], 0.0),
        ([1.0, 1.0], 0.0),
        ([0.0, 7.0, 7.0, 9.5], 9.5),
        ([5.0], 0.0),
        ([], 0.0),
    ],
)
def test_counter_increase_handles_resets_like_rate(values: list[float], expected: float) -> None:
    assert counter_increase(values) == expected


@pytest.mark.parametrize(
    "module", ["rayobs.top._math", "rayobs.top._expo", "rayobs.top._fetch", "rayobs.top._render"]
)
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0
