"""Read rayobs metrics back from a Ray node's Prometheus endpoint, summed over workers."""

from __future__ import annotations

import urllib.request
from collections import defaultdict

from rayobs.metrics._spec import RAY_LABELS  # summed over, to show the user's own tags

_SCRAPE_LABELS = frozenset({"__name__", "instance", "job"})

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str, prefixes: tuple[str, ...], timeout: float = 5.0) -> Series:
    """Samples whose name starts with one of ``prefixes``, summed over Ray's own labels.

    Histogram buckets are left out (``_count`` and ``_sum`` stay).
    """
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=timeout) as response:
        text = response.read().decode()
    totals: Series = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.name.startswith(prefixes) or sample.name.endswith("_bucket"):
                continue
            if sample.name.endswith("_created"):
                continue
            totals[(sample.name, user_tags(sample.labels))] += float(sample.value)
    return dict(totals)


def user_tags(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """The labels the user's code set: not Ray's, OpenTelemetry's or Prometheus' own."""
    return tuple(
        sorted(
            (k, v)
            for k, v in labels.items()
            if v  # an empty label is an absent one to Prometheus
            and k not in RAY_LABELS
            and k not in _SCRAPE_LABELS
            and not k.startswith("otel_")
        )
    )
