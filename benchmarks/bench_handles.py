"""Cost of recording through a rayobs handle vs the raw client call it wraps.

Targets: on the prometheus backend a handle costs <= 1.3x the raw
prometheus_client call; on the Ray backend <= 1.3x the raw ray.util.metrics
call, measured inside a Ray worker. Both sides run in the same process, same run.
"""

from __future__ import annotations

from typing import Any

try:
    from benchmarks._env import local_ray
    from benchmarks._timing import per_call_ns, table
except ImportError:  # run as a script
    from _env import local_ray  # type: ignore[no-redef]
    from _timing import per_call_ns, table  # type: ignore[no-redef]

NUMBER = 20_000
REPEAT = 15
TARGET = 1.3


def prometheus_rows() -> list[tuple[str, float, float, float | None]]:
    import prometheus_client as pc

    import rayobs
    from rayobs.backends._prometheus import PrometheusBackend

    registry = pc.CollectorRegistry()
    rayobs.configure(backend=PrometheusBackend(registry))
    raw_c = pc.Counter("raw_calls", "d", registry=registry)
    raw_ct = pc.Counter("raw_routes", "d", labelnames=("route",), registry=registry)
    raw_g = pc.Gauge("raw_level", "d", registry=registry)
    raw_h = pc.Histogram("raw_wait_seconds", "d", registry=registry, buckets=(0.1, 1, 10))
    c = rayobs.Counter("h_calls", "d")
    ct = rayobs.Counter("h_routes", "d", tag_keys=("route",))
    g = rayobs.Gauge("h_level", "d")
    h = rayobs.Histogram("h_wait_seconds", "d", boundaries=(0.1, 1, 10), unit="seconds")
    tags = {"route": "/api"}
    t = per_call_ns(
        {
            "raw inc": raw_c.inc,
            "handle inc": c.inc,
            "raw labels().inc": lambda: raw_ct.labels("/api").inc(),
            "handle inc(tags)": lambda: ct.inc(1, tags),
            "raw set": lambda: raw_g.set(3),
            "handle set": lambda: g.set(3),
            "raw observe": lambda: raw_h.observe(0.5),
            "handle observe": lambda: h.observe(0.5),
        },
        NUMBER,
        REPEAT,
    )
    rayobs.configure(backend=None)
    return [
        ("Counter.inc()", t["handle inc"], t["raw inc"], TARGET),
        (
            "Counter.inc(tags) vs labels(...).inc()",
            t["handle inc(tags)"],
            t["raw labels().inc"],
            TARGET,
        ),
        ("Gauge.set(v)", t["handle set"], t["raw set"], TARGET),
        ("Histogram.observe(v)", t["handle observe"], t["raw observe"], TARGET),
    ]


def _ray_worker_timings() -> dict[str, float]:
    """Runs inside a Ray worker: raw ray.util.metrics vs handles on the ray backend."""
    from ray.util import metrics

    import rayobs

    rayobs.configure(backend="ray")
    raw_c = metrics.Counter("bench_raw_calls", "d", tag_keys=("route",))
    raw_g = metrics.Gauge("bench_raw_level", "d", tag_keys=("route",))
    raw_h = metrics.Histogram("bench_raw_wait_seconds", "d", [0.1, 1, 10], tag_keys=("route",))
    c = rayobs.Counter("bench_h_calls", "d", tag_keys=("route",), default_tags={"route": "/api"})
    g = rayobs.Gauge("bench_h_level", "d", tag_keys=("route",), default_tags={"route": "/api"})
    h = rayobs.Histogram(
        "bench_h_wait_seconds", "d", (0.1, 1, 10), ("route",), {"route": "/api"}, unit="seconds"
    )
    tags = {"route": "/api"}
    return per_call_ns(
        {
            "raw inc": lambda: raw_c.inc(1.0, tags),
            "handle inc": c.inc,
            "handle inc(tags)": lambda: c.inc(1.0, tags),
            "raw set": lambda: raw_g.set(3.0, tags),
            "handle set": lambda: g.set(3.0),
            "raw observe": lambda: raw_h.observe(0.5, tags),
            "handle observe": lambda: h.observe(0.5),
        },
        NUMBER // 4,
        REPEAT,
    )


def ray_rows() -> list[tuple[str, float, float, float | None]]:
    with local_ray(1) as ray:
        t: dict[str, Any] = ray.get(ray.remote(_ray_worker_timings).remote())
    return [
        ("Counter.inc() [default tags]", t["handle inc"], t["raw inc"], TARGET),
        ("Counter.inc(tags)", t["handle inc(tags)"], t["raw inc"], TARGET),
        ("Gauge.set(v)", t["handle set"], t["raw set"], TARGET),
        ("Histogram.observe(v)", t["handle observe"], t["raw observe"], TARGET),
    ]


def main() -> None:
    print(table("handles vs prometheus_client (median ns per call)", prometheus_rows()))
    print()
    print(
        table("handles vs ray.util.metrics, inside a Ray worker (median ns per call)", ray_rows())
    )


if __name__ == "__main__":
    main()
