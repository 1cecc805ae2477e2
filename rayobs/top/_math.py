"""The two pieces of PromQL arithmetic ``rayobs top`` needs, computed as Prometheus does.

``counter_increase`` is the core of ``rate()``/``increase()``: a counter that
goes down was reset (its process restarted), so the value after the drop is
all new. ``histogram_quantile`` is PromQL's ``histogram_quantile`` over
conventional buckets (Prometheus 2.x ``bucketQuantile``), edge cases included.
Both are pure functions of numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from itertools import pairwise


def counter_increase(values: Sequence[float]) -> float:
    """How much a counter grew over successive samples, resets included.

    Like Prometheus's ``rate()``, a sample lower than the one before it marks a
    reset, and the new value counts in full (the counter restarted from zero).
    Unlike ``rate()`` there is no extrapolation to a window's edges: the window
    is exactly from the first sample to the last.

    >>> counter_increase([3, 5, 2, 4])  # 3→5 (+2), reset, then 0→2→4 (+4)
    6.0
    """
    return float(sum(increase(before, after) for before, after in pairwise(values)))


def increase(before: float, after: float) -> float:
    """How much a counter grew between two samples: all of ``after`` when it went down."""
    return after if after < before else after - before


def histogram_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float:
    """The ``q``-quantile of cumulative ``(upper_bound, count)`` buckets, as PromQL computes it.

    Linear interpolation inside the bucket where the rank falls; the lowest
    bucket starts at 0 (unless its upper bound is ≤ 0, then that bound is the
    answer); a rank in the ``+Inf`` bucket gives the highest finite bound. NaN
    when there is no ``+Inf`` bucket, fewer than two buckets, or no
    observation; ``-Inf``/``+Inf`` for ``q`` below 0 or above 1. Buckets with
    the same bound are added up and counts that go down are raised to the
    running maximum, as Prometheus does for series scraped at slightly
    different moments.

    >>> round(histogram_quantile(0.5, [(0.1, 2), (0.5, 6), (math.inf, 8)]), 6)
    0.3
    """
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    merged: dict[float, float] = {}
    for bound, count in buckets:
        merged[bound] = merged.get(bound, 0.0) + count
    ordered = sorted(merged.items())
    if not ordered or not math.isinf(ordered[-1][0]) or ordered[-1][0] < 0:
        return math.nan
    if len(ordered) < 2:
        return math.nan
    bounds = [bound for bound, _count in ordered]
    counts: list[float] = []
    highest = -math.inf
    for _bound, count in ordered:
        highest = max(highest, count)
        counts.append(highest)
    observations = counts[-1]
    if observations == 0 or math.isnan(observations):
        return math.nan
    rank = q * observations
    # the first bucket (the +Inf one excluded) whose count reaches the rank
    b = next((i for i in range(len(counts) - 1) if counts[i] >= rank), len(counts) - 1)
    if b == len(counts) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start, end, count = 0.0, bounds[b], counts[b]
    if b > 0:
        start = bounds[b - 1]
        count -= counts[b - 1]
        rank -= counts[b - 1]
    # 0/0 (q = 0 over an empty lowest bucket) is NaN, as in Go
    return start + (end - start) * (rank / count) if count else math.nan
