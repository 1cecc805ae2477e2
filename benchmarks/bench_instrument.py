"""Cost of rayobs.instrument: per call in process, and Ray task/actor throughput.

- In process: an instrumented sync call (calls + duration + in-flight) vs a bare
  call. Targets: overhead <= 2 us on the Ray backend, at least 5x cheaper than the
  same records made with ray.util.metrics directly; <= 1 us on the prometheus
  backend (prometheus_client's own Histogram.time() decorator is the reference).
  The background flush that pushes the aggregated counts is measured too and
  reported per call, so nothing is hidden.
- On Ray: no-op task and actor-call throughput, instrumented vs bare (target >= 98%).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

try:
    from benchmarks._env import local_ray, prepare_ray_environment
    from benchmarks._timing import per_call_ns
except ImportError:  # run as a script
    from _env import local_ray, prepare_ray_environment  # type: ignore[no-redef]
    from _timing import per_call_ns  # type: ignore[no-redef]

NUMBER = 20_000
REPEAT = 11


def _noop(x: int) -> int:
    return x


def _overheads(backend: str) -> dict[str, float]:
    """Median ns per call: bare, instrumented, the direct-records baseline, flush per call."""
    import rayobs
    from rayobs.calls import _flusher

    rayobs.configure(backend=backend)
    instrumented = rayobs.instrument(_noop, name=f"bench_{backend}")
    # The background push is measured on its own: while the caller's cost is timed
    # it must not share the GIL with pushes of a million calls.
    with _flusher.paused() as flusher:
        timings = per_call_ns(
            {"bare": lambda: _noop(1), "rayobs": lambda: instrumented(1)}, NUMBER, REPEAT
        )
        # what the background push costs, per call: time pushing N fresh calls
        flush_ns = []
        for _ in range(5):
            for _ in range(NUMBER):
                instrumented(1)
            start = time.perf_counter_ns()
            flusher.push()
            flush_ns.append((time.perf_counter_ns() - start) / NUMBER)
    timings["flush per call"] = statistics.median(flush_ns)
    timings.update(_direct(backend))
    return timings


def _direct(backend: str) -> dict[str, float]:
    """The same three metrics, with the same tags, recorded on every call by hand."""
    from rayobs.metrics import _catalog

    perf = time.perf_counter
    keys = (*_catalog.CALL_TAG_KEYS, "outcome")
    tags = {k: "" for k in keys} | {"kind": "task", "name": "noop", "outcome": "ok"}
    gauge_tags = {k: v for k, v in tags.items() if k != "outcome"}
    bounds = list(_catalog.DURATION_BUCKETS)
    if backend == "ray":
        from ray.util import metrics

        calls = metrics.Counter("bench_direct_calls", "d", keys)
        duration = metrics.Histogram("bench_direct_seconds", "d", bounds, keys)
        in_flight = metrics.Gauge("bench_direct_in_flight", "d", tuple(gauge_tags))
        state = [0]

        def direct(x: int) -> int:
            state[0] += 1
            in_flight.set(state[0], gauge_tags)
            start = perf()
            try:
                return _noop(x)
            finally:
                duration.observe(perf() - start, tags)
                calls.inc(1.0, tags)
                state[0] -= 1
                in_flight.set(state[0], gauge_tags)

        return {"direct": per_call_ns({"direct": lambda: direct(1)}, NUMBER // 4, REPEAT)["direct"]}
    import prometheus_client as pc

    registry = pc.CollectorRegistry()
    hist = pc.Histogram("bench_pc_seconds", "d", registry=registry)
    timed = hist.time()(_noop)
    # children hoisted out of the call: the cheapest way to use prometheus_client
    calls_c = pc.Counter("bench_pc_calls", "d", keys, registry=registry).labels(**tags)
    dur = pc.Histogram("bench_pc2_seconds", "d", keys, registry=registry, buckets=bounds).labels(
        **tags
    )
    gauge = pc.Gauge("bench_pc_in_flight", "d", tuple(gauge_tags), registry=registry).labels(
        **gauge_tags
    )

    def direct(x: int) -> int:
        gauge.inc()
        start = perf()
        try:
            return _noop(x)
        finally:
            dur.observe(perf() - start)
            calls_c.inc()
            gauge.dec()

    return per_call_ns(
        {"Histogram.time()": lambda: timed(1), "direct": lambda: direct(1)}, NUMBER, REPEAT
    )


def _in_ray_worker() -> dict[str, float]:
    return _overheads("ray")


def _throughput(ray: Any, rounds: int = 10, n: int = 1000) -> dict[str, float]:
    import rayobs

    bare_task = ray.remote(_noop)
    inst_task = ray.remote(rayobs.instrument(_noop, name="bench_task"))

    class Echo:
        def echo(self, x: int) -> int:
            return x

    bare_actor = ray.remote(Echo).remote()
    inst_actor = ray.remote(rayobs.instrument(type("EchoI", (Echo,), {}))).remote()
    ray.get(
        [
            bare_task.remote(0),
            inst_task.remote(0),
            bare_actor.echo.remote(0),
            inst_actor.echo.remote(0),
        ]
    )

    def rate(submit: Any) -> float:
        start = time.perf_counter()
        ray.get([submit(i) for i in range(n)])
        return n / (time.perf_counter() - start)

    samples: dict[str, list[float]] = {
        k: [] for k in ("task", "task+rayobs", "actor", "actor+rayobs")
    }
    ratios: dict[str, list[float]] = {"task": [], "actor": []}
    pairs = (
        ("task", bare_task.remote, "task+rayobs", inst_task.remote),
        ("actor", bare_actor.echo.remote, "actor+rayobs", inst_actor.echo.remote),
    )
    for round_ in range(rounds):  # interleaved, order swapped each round (ABBA)
        for a, submit_a, b, submit_b in pairs:
            order = ((a, submit_a), (b, submit_b))
            measured = {}
            for key, submit in order if round_ % 2 == 0 else reversed(order):
                measured[key] = rate(submit)
                samples[key].append(measured[key])
            # paired: the two sides of one round ran seconds apart, under the same load
            ratios[a].append(measured[b] / measured[a])
    result = {k: statistics.median(v) for k, v in samples.items()}
    result.update({f"{k} ratio": statistics.median(v) for k, v in ratios.items()})
    return result


def main() -> None:
    prepare_ray_environment()
    prom = _overheads("prometheus")
    with local_ray(2) as ray:
        on_ray = ray.get(ray.remote(_in_ray_worker).remote())
        rates = _throughput(ray)

    print("in-process cost of one call (median ns)")
    print(
        f"{'backend':<12}{'bare':>8}{'rayobs':>9}{'overhead':>10}{'flush/call':>12}{'direct':>9}"
        f"{'direct/rayobs':>15}{'target':>22}"
    )
    for name, t, target in (
        ("prometheus", prom, "overhead <= 1000 ns"),
        ("ray", on_ray, "overhead <= 2000 ns, >= 5x"),
    ):
        overhead = t["rayobs"] - t["bare"]
        direct = t["direct"] - t["bare"]
        print(
            f"{name:<12}{t['bare']:>8.0f}{t['rayobs']:>9.0f}{overhead:>10.0f}"
            f"{t['flush per call']:>12.0f}{direct:>9.0f}{direct / overhead:>14.1f}x  {target}"
        )
    alone = prom["Histogram.time()"] - prom["bare"]
    print(f"prometheus_client @Histogram.time() alone: {alone:.0f} ns overhead")
    print()
    print("Ray throughput, no-op calls (10 ABBA rounds of 1000; median of per-round ratios)")
    for kind in ("task", "actor"):
        bare, inst = rates[kind], rates[f"{kind}+rayobs"]
        print(
            f"  {kind:<6} bare {bare:8.0f}/s  instrumented {inst:8.0f}/s"
            f"  ratio {rates[f'{kind} ratio']:6.1%}  (target >= 98%)"
        )


if __name__ == "__main__":
    main()
