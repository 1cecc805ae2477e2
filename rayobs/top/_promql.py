"""A frame from a Prometheus server: the same figures, computed by PromQL itself.

Each refresh asks instant queries over a trailing window: ``increase()`` for
calls and exceptions, ``histogram_quantile()`` over ``rate()`` of the buckets
summed by ``le``, the in-flight gauge, and Ray's series for the cluster line.
"""

from __future__ import annotations

import json
import math
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from typing import Any

from rayobs.top._compute import QUANTILES, TOP_EXCEPTIONS, SortBy, sort_rows
from rayobs.top._expo import (
    CALLS_TOTAL,
    DURATION_BUCKET,
    ERRORS_TOTAL,
    IN_FLIGHT,
    OOM_KILLS,
    RESOURCES,
    STORE_USED,
    TASKS,
    WORKER_FAILURES,
)
from rayobs.top._model import ClusterLine, EndpointStatus, FunctionKey, FunctionStats, TopSnapshot

# rate() needs two scrapes inside its window: below this, a 15 s scrape interval shows nothing.
MIN_WINDOW_S = 30.0
_BY = "kind,name,app,component"


class PrometheusError(RuntimeError):
    """The server did not answer, or refused a query (one line)."""


def prometheus_url(text: str) -> str:
    """The base URL of a Prometheus server; ``ValueError`` when it is not http(s)."""
    raw = text.strip().rstrip("/")
    url = raw if "://" in raw else f"http://{raw}"
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not a Prometheus URL: {text!r}")
    return url


def window_for(interval_s: float) -> float:
    return max(interval_s, MIN_WINDOW_S)


def queries(window_s: float, since_start_s: float) -> dict[str, str]:
    w = f"{max(1, round(window_s))}s"
    since = f"{max(round(window_s), round(since_start_s))}s"
    out = {
        "calls": f"sum by ({_BY},outcome) (increase({CALLS_TOTAL}[{w}]))",
        "exceptions": f"sum by ({_BY},exception) (increase({ERRORS_TOTAL}[{w}]))",
        "in_flight": f"sum by ({_BY}) ({IN_FLIGHT})",
        "tasks": f"sum by (State) ({TASKS})",
        "store_used": f"sum({STORE_USED})",
        "store_capacity": f'sum({RESOURCES}{{Name="object_store_memory"}})',
        "nodes": f"count(count by (NodeAddress) ({RESOURCES}))",
        "deaths": f"sum(increase({WORKER_FAILURES}[{since}]))",
        "ooms": f"sum(increase({OOM_KILLS}[{since}]))",
    }
    for q in QUANTILES:
        out[f"p{q * 100:g}"] = (
            f"histogram_quantile({q}, sum by ({_BY},le) (rate({DURATION_BUCKET}[{w}])))"
        )
    return out


def _ask(base: str, promql: str, timeout: float) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise PrometheusError(f"Prometheus at {base} refused a query: HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PrometheusError(f"no answer from Prometheus at {base}: {reason}") from None
    if body.get("status") != "success":
        raise PrometheusError(f"Prometheus at {base}: {body.get('error', 'query failed')}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def ask_all(base: str, promqls: dict[str, str], timeout: float) -> dict[str, list[dict[str, Any]]]:
    """Every query at once; the first failure is raised."""
    answers: dict[str, list[dict[str, Any]]] = {}
    errors: list[BaseException] = []

    def run(name: str, promql: str) -> None:
        try:
            answers[name] = _ask(base, promql, timeout)
        except BaseException as exc:  # handed to the caller's thread
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=item, name="rayobs-top-promql", daemon=True)
        for item in promqls.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout + 0.5)
    if errors:
        raise errors[0]
    if len(answers) < len(promqls):
        raise PrometheusError(f"no answer from Prometheus at {base} within {timeout:g}s")
    return answers


def _key(metric: dict[str, str]) -> FunctionKey:
    return FunctionKey(
        metric.get("kind", ""),
        metric.get("name", ""),
        metric.get("app", ""),
        metric.get("component", ""),
    )


def _value(item: dict[str, Any]) -> float:
    return float(item["value"][1])


def _scalar(answer: list[dict[str, Any]]) -> float | None:
    return _value(answer[0]) if answer else None


def frame_from_answers(
    answers: dict[str, list[dict[str, Any]]], window_s: float, source: str
) -> TopSnapshot:
    """A frame from the query results (pure: the parsing half of ``query_prometheus``)."""
    calls: dict[FunctionKey, float] = defaultdict(float)
    errors: dict[FunctionKey, float] = defaultdict(float)
    exceptions: dict[FunctionKey, dict[str, float]] = defaultdict(dict)
    in_flight: dict[FunctionKey, float] = defaultdict(float)
    quantiles: dict[FunctionKey, dict[str, float]] = defaultdict(dict)
    for item in answers["calls"]:
        key = _key(item["metric"])
        calls[key] += _value(item)
        if item["metric"].get("outcome") == "error":
            errors[key] += _value(item)
    for item in answers["exceptions"]:
        exceptions[_key(item["metric"])][item["metric"].get("exception", "")] = _value(item)
    for item in answers["in_flight"]:
        in_flight[_key(item["metric"])] += _value(item)
    for q in QUANTILES:
        name = f"p{q * 100:g}"
        for item in answers[name]:
            value = _value(item)
            if not math.isnan(value):
                quantiles[_key(item["metric"])][name] = value
    rows = []
    for key in {*calls, *in_flight}:
        n = calls.get(key, 0.0)
        top = sorted(
            ((t, c) for t, c in exceptions.get(key, {}).items() if c > 0),
            key=lambda item: (-item[1], item[0]),
        )
        got = quantiles.get(key, {})
        rows.append(
            FunctionStats(
                key=key,
                calls=n,
                calls_per_s=n / window_s,
                errors=errors.get(key, 0.0),
                error_ratio=errors.get(key, 0.0) / n if n > 0 else None,
                exceptions=tuple(top[:TOP_EXCEPTIONS]),
                p50=got.get("p50"),
                p95=got.get("p95"),
                p99=got.get("p99"),
                in_flight=in_flight.get(key, 0.0),
            )
        )
    nodes = _scalar(answers["nodes"])
    cluster = ClusterLine(
        nodes=int(nodes or 0),
        tasks_by_state=tuple(
            sorted(
                (item["metric"].get("State", ""), _value(item))
                for item in answers["tasks"]
                if _value(item) > 0
            )
        ),
        store_used_bytes=_scalar(answers["store_used"]),
        store_capacity_bytes=_scalar(answers["store_capacity"]),
        worker_deaths=_scalar(answers["deaths"]) or 0.0,
        oom_kills=_scalar(answers["ooms"]) or 0.0,
    )
    return TopSnapshot(
        window_s, sort_rows(rows, SortBy.CALLS), cluster, (EndpointStatus(source, True),)
    )


def query_prometheus(
    base: str, interval_s: float, since_start_s: float, timeout: float
) -> TopSnapshot:
    """One frame from the Prometheus at ``base``; ``PrometheusError`` when it fails."""
    window = window_for(interval_s)
    answers = ask_all(base, queries(window, since_start_s), timeout)
    return frame_from_answers(answers, window, base)
