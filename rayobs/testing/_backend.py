"""The memory backend as tests use it: the storage of ``rayobs.backends._memory``, read
the way a test asks.

Its readers answer the question a test asks, and say so when it cannot be answered:

- a metric name that was never declared nor recorded raises ``LookupError``
  naming the closest known one (a typo never reads as "nothing happened");
- a tag key the metric does not have raises ``TypeError`` naming its keys;
- tags given are a filter: the series that carry them are summed (histograms
  merged), so unset tags (``app``, ``component``, ``team`` on the call metrics)
  need not be spelled out;
- a known metric with no series matching the tags gives ``None``, which no
  number equals; matching series give their sum, ``0.0`` included.

Every reader first pushes the instrumented calls counted so far
(``rayobs.flush()``) when this backend is the one in use.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from rayobs.backends._memory import (
    HistogramValue,
    MemoryStore,
    TagSet,
    _merged,
)
from rayobs.calls import _flusher
from rayobs.metrics import _catalog, _registry
from rayobs.metrics._spec import Kind, MetricSpec


class MemoryBackend(MemoryStore):
    """Keeps every metric in memory; query it with :meth:`value` and :meth:`histogram`,
    and one instrumented function or method with :meth:`calls`, :meth:`errors`,
    :meth:`duration` and :meth:`in_flight`.

    >>> from rayobs.testing import capture_metrics
    >>> import rayobs
    >>> jobs = rayobs.Counter("doc_jobs", tag_keys=("queue",))
    >>> with capture_metrics() as metrics:
    ...     jobs.inc(tags={"queue": "fast"})
    >>> metrics.value("doc_jobs", queue="fast")
    1.0
    >>> print(metrics.value("doc_jobs", queue="slow"))  # nothing recorded under these tags
    None
    """

    # ---- metrics by name ----

    def names(self) -> list[str]:
        """Names of the metrics recorded so far.

        >>> from rayobs.testing import capture_metrics
        >>> import rayobs
        >>> with capture_metrics() as metrics:
        ...     rayobs.Gauge("doc_names_depth").set(3)
        >>> "doc_names_depth" in metrics.names()
        True
        """
        self._flush_calls()
        return sorted(self._instruments)

    def series(self, name: str) -> dict[TagSet, float | HistogramValue]:
        """Every tag set of ``name`` with its value (a float, or a ``HistogramValue``).

        >>> from rayobs.testing import capture_metrics
        >>> import rayobs
        >>> hits = rayobs.Counter("doc_series_hits", tag_keys=("route",))
        >>> with capture_metrics() as metrics:
        ...     hits.inc(tags={"route": "/a"})
        >>> metrics.series("doc_series_hits")
        {(('route', '/a'),): 1.0}
        """
        self._flush_calls()
        self._spec(name)
        return self._series(name)

    def value(self, name: str, /, **tags: object) -> float | None:
        """Sum of the counter or gauge series that carry these tags (all series if none).

        ``None`` if no series matches (nothing was recorded under these tags); raises
        ``LookupError`` for an unknown metric name and ``TypeError`` for a tag key the
        metric does not have.

        >>> from rayobs.testing import capture_metrics
        >>> import rayobs
        >>> sent = rayobs.Counter("doc_sent", tag_keys=("region", "status"))
        >>> with capture_metrics() as metrics:
        ...     sent.inc(tags={"region": "eu", "status": "ok"})
        ...     sent.inc(2, tags={"region": "us", "status": "ok"})
        >>> metrics.value("doc_sent", status="ok"), metrics.value("doc_sent", region="eu")
        (3.0, 1.0)
        >>> print(metrics.value("doc_sent", status="failed"))
        None
        >>> metrics.value("doc_snet")
        Traceback (most recent call last):
        ...
        LookupError: no metric 'doc_snet' was declared or recorded; did you mean 'doc_sent'?
        """
        self._flush_calls()
        spec = self._spec(name)
        if spec.kind is Kind.HISTOGRAM:
            raise TypeError(f"{name!r} is a histogram: use histogram()")
        found = self._matching(spec, tags)
        if not found:
            return None
        return float(sum(v for v in found if isinstance(v, float)))

    def total(self, name: str) -> float:
        """Sum of a counter or gauge over all tag sets (``0.0`` if nothing was recorded).

        >>> from rayobs.testing import capture_metrics
        >>> import rayobs
        >>> pages = rayobs.Counter("doc_pages", tag_keys=("book",))
        >>> with capture_metrics() as metrics:
        ...     pages.inc(10, tags={"book": "a"})
        ...     pages.inc(5, tags={"book": "b"})
        >>> metrics.total("doc_pages")
        15.0
        """
        found = self.value(name)
        return 0.0 if found is None else found

    def histogram(self, name: str, /, **tags: object) -> HistogramValue | None:
        """The series of histogram ``name`` that carry these tags, merged; ``None`` if none.

        Raises like :meth:`value` for an unknown name or tag key.

        >>> from rayobs.testing import capture_metrics
        >>> import rayobs
        >>> wait = rayobs.Histogram(
        ...     "doc_wait_seconds", boundaries=(0.1, 1.0), tag_keys=("queue",), unit="seconds"
        ... )
        >>> with capture_metrics() as metrics:
        ...     wait.observe(0.0625, tags={"queue": "a"})
        ...     wait.observe(0.5, tags={"queue": "b"})
        >>> h = metrics.histogram("doc_wait_seconds")
        >>> h.count, h.sum, h.buckets, h.at_most(0.1)
        (2, 0.5625, (1, 1, 0), 1)
        >>> metrics.histogram("doc_wait_seconds", queue="a").count
        1
        """
        self._flush_calls()
        spec = self._spec(name)
        if spec.kind is not Kind.HISTOGRAM:
            raise TypeError(f"{name!r} is a {spec.kind.value}, not a histogram: use value()")
        found = self._matching(spec, tags)
        if not found:
            return None
        return _merged(spec, (v for v in found if isinstance(v, HistogramValue)))

    # ---- one instrumented function or method (rayobs.instrument) ----

    def calls(self, target: object) -> dict[str, int]:
        """Finished calls of ``target`` by outcome; ``{}`` if it was not called.

        ``target`` is the instrumented function or method (or a ``ray.remote``
        function made from one), or the ``name`` tag of one that ran, e.g.
        ``"Bank.withdraw"`` (a name matches every kind and static tag).

        >>> from rayobs.testing import capture_metrics
        >>> import rayobs
        >>> @rayobs.instrument
        ... def half(x):
        ...     return 1 / x
        >>> with capture_metrics() as metrics:
        ...     _ = half(2)
        ...     _ = half(0)
        Traceback (most recent call last):
        ...
        ZeroDivisionError: division by zero
        >>> metrics.calls(half)
        {'error': 1, 'ok': 1}
        """
        spec, tags = self._call_metric(target, "calls")
        return _counts(self._series(spec.name), tags, "outcome")

    def errors(self, target: object) -> dict[str, int]:
        """Calls of ``target`` that raised, by exception type; ``{}`` if none did.

        Builtin exceptions by name, others as ``module.QualName``.

        >>> from rayobs.testing import capture_metrics
        >>> import rayobs
        >>> @rayobs.instrument
        ... def parse(text):
        ...     return int(text)
        >>> with capture_metrics() as metrics:
        ...     _ = parse("x")
        Traceback (most recent call last):
        ...
        ValueError: invalid literal for int() with base 10: 'x'
        >>> metrics.errors(parse)
        {'ValueError': 1}
        """
        spec, tags = self._call_metric(target, "errors")
        return _counts(self._series(spec.name), tags, "exception")

    def duration(self, target: object) -> HistogramValue:
        """Every duration observation of ``target``'s calls, all outcomes merged.

        From its ``duration_histogram=`` if it was given one. ``count`` is the
        number of finished calls; for one outcome, ask :meth:`histogram` with
        ``outcome=...``.

        >>> from rayobs.testing import capture_metrics
        >>> import rayobs
        >>> @rayobs.instrument
        ... def step():
        ...     pass
        >>> with capture_metrics() as metrics:
        ...     step()
        ...     step()
        >>> d = metrics.duration(step)
        >>> d.count, d.at_most(1.0)
        (2, 2)
        """
        spec, tags = self._call_metric(target, "duration")
        found = [v for key, v in self._series(spec.name).items() if _carries(key, tags)]
        return _merged(spec, (v for v in found if isinstance(v, HistogramValue)))

    def in_flight(self, target: object) -> int:
        """Calls of ``target`` running now in this process.

        >>> from rayobs.testing import capture_metrics
        >>> import rayobs
        >>> @rayobs.instrument
        ... def peek(metrics):
        ...     return metrics.in_flight(peek)
        >>> with capture_metrics() as metrics:
        ...     running = peek(metrics)
        >>> running, metrics.in_flight(peek)
        (1, 0)
        """
        spec, tags = self._call_metric(target, "in_flight")
        found = [v for key, v in self._series(spec.name).items() if _carries(key, tags)]
        return int(sum(v for v in found if isinstance(v, float)))

    # ---- internals ----

    def _flush_calls(self) -> None:
        """Push the calls counted so far, if they would land here (``rayobs.flush``).

        Nothing to do when another backend is in use.
        """
        if _registry.in_use() is self:
            _flusher.flush()

    def _spec(self, name: str) -> MetricSpec:
        """The spec of ``name``: as recorded here, else as declared; ``LookupError`` if neither."""
        instrument = self._instruments.get(name)
        if instrument is not None:
            return instrument.spec
        known = _known_specs()
        spec = known.get(name)
        if spec is None:
            raise LookupError(_unknown_metric(name, set(known) | set(self._instruments)))
        return spec

    def _matching(self, spec: MetricSpec, tags: dict[str, object]) -> list[float | HistogramValue]:
        unknown = sorted(set(tags) - set(spec.tag_keys))
        if unknown:
            keys = f"its tag keys are {spec.tag_keys}" if spec.tag_keys else "it has no tags"
            raise TypeError(f"metric {spec.name!r} has no tag key {', '.join(unknown)}: {keys}")
        wanted = {k: str(v) for k, v in tags.items()}
        return [v for key, v in self._series(spec.name).items() if _carries(key, wanted)]

    def _call_metric(self, target: object, metric: str) -> tuple[MetricSpec, dict[str, str]]:
        """After a flush: the catalog metric ``metric`` of ``target``, and the tags naming it."""
        self._flush_calls()
        query = self._call_query(target, metric)
        spec = query.spec_of(metric)
        return spec, query.tags_for(spec)

    def _call_query(self, target: object, metric: str) -> _CallQuery:
        if isinstance(target, str):
            seen = {
                dict(key).get("name", "")
                for spec in _catalog.CALL_METRICS.values()
                for key in self._series(spec.name)
            }
            if target not in seen:
                raise LookupError(_unknown_call(target, seen))
            return _CallQuery({"name": target}, _catalog.CALL_DURATION)
        site = _site_of(target)
        spec = site.spec
        if metric not in spec.metrics:
            raise ValueError(
                f"{spec.name!r} is instrumented without {metric!r} "
                f"(metrics={sorted(spec.metrics)}): nothing to count"
            )
        tags = {key: "" for key in _catalog.EXTRA_TAG_KEYS}
        tags.update(dict(spec.tags), kind=spec.kind, name=spec.name)
        return _CallQuery(tags, spec.duration.spec)


@dataclass(frozen=True)
class _CallQuery:
    """The tags that select one instrumented callable's series, and its duration histogram."""

    tags: dict[str, str]
    duration: MetricSpec

    def spec_of(self, metric: str) -> MetricSpec:
        return self.duration if metric == "duration" else _catalog.CALL_METRICS[metric]

    def tags_for(self, spec: MetricSpec) -> dict[str, str]:
        # a duration_histogram= may carry only some of the call tag keys
        return {k: v for k, v in self.tags.items() if k in spec.tag_keys}


def _carries(key: TagSet, tags: dict[str, str]) -> bool:
    have = dict(key)
    return all(have.get(k) == v for k, v in tags.items())


def _counts(
    series: dict[TagSet, float | HistogramValue], tags: dict[str, str], by: str
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key, v in series.items():
        if isinstance(v, float) and v and _carries(key, tags):
            group = dict(key)[by]
            counts[group] = counts.get(group, 0) + int(v)
    return dict(sorted(counts.items()))


def _site_of(target: object) -> Any:
    """The call site ``rayobs.instrument`` attached to ``target`` (or to what it wraps)."""
    for obj in (target, getattr(target, "_function", None), getattr(target, "__func__", None)):
        site = getattr(obj, "__rayobs_site__", None)
        if site is not None:
            return site
    if isinstance(target, type):
        raise TypeError(
            f"{target.__name__} is a class: ask about one of its methods "
            f"({target.__name__}.method) or pass the name, e.g. '{target.__name__}.method'"
        )
    raise TypeError(
        f"{target!r} is not instrumented: pass a function decorated with rayobs.instrument, "
        "or the name of an instrumented call as a string"
    )


# The exporters' spellings of a declared name (ray_x_total, x_bucket, ...).
_EXPORTED_PREFIX = "ray_"
_EXPORTED_SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def _unknown_metric(name: str, known: set[str]) -> str:
    message = f"no metric {name!r} was declared or recorded"
    declared = name.removeprefix(_EXPORTED_PREFIX)
    for suffix in _EXPORTED_SUFFIXES:
        declared = declared.removesuffix(suffix)
    if declared != name and declared in known:
        return (
            f"{message}; did you mean {declared!r}? Query the declared name, not the exported one"
        )
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f"{message}; did you mean {close[0]!r}?"
    if not known:
        return f"{message}; no metric is declared in this process"
    listed = sorted(known, key=lambda n: (n.startswith("rayobs_"), n))  # the user's own first
    more = f" and {len(listed) - 10} more" if len(listed) > 10 else ""
    return f"{message}; known metrics: {', '.join(listed[:10])}{more}"


def _unknown_call(name: str, seen: set[str]) -> str:
    message = f"no instrumented call named {name!r} was recorded"
    close = difflib.get_close_matches(name, seen, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{message}{hint} (pass the function itself to ask about one that may not have run)"


def _known_specs() -> dict[str, MetricSpec]:
    """Every metric this process knows: the catalog's, live handles' and declarations."""
    specs = {spec.name: spec for spec in _catalog.EVERY}
    specs.update(_registry.known())
    return specs
