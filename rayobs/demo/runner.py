"""Start a local Ray on 127.0.0.1, run the workload, and read back what was recorded."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rayobs.demo import _local_ray
from rayobs.demo._local_prometheus import LocalPrometheus
from rayobs.demo._ports import free_port
from rayobs.demo.scrape import Series, scrape, user_tags

INSTALL_PROMETHEUS = "`make demo` installs it as root; else: sudo apt-get install prometheus"

PREFIXES = (
    "ray_demo_",
    "ray_rayobs_calls_total",
    "ray_rayobs_call_errors_total",
    "ray_rayobs_call_duration_seconds_count",
)


@dataclass(frozen=True)
class Row:
    """One series: its exported name and tags, and the value each source shows."""

    name: str
    tags: tuple[tuple[str, str], ...]
    expected: float | None
    endpoint: float | None
    prometheus: float | None


@dataclass(frozen=True)
class DemoResult:
    """What the demo saw; ``prometheus_missing`` says why Prometheus did not run ("": it ran)."""

    metrics_url: str
    rows: tuple[Row, ...]
    prometheus_note: str
    seconds: float
    prometheus_missing: str = ""

    @property
    def matches(self) -> bool:
        """Every expected series shows its expected value at Ray's endpoint."""
        return all(r.endpoint == r.expected for r in self.rows if r.expected is not None)


def _prepare_environment(work_dir: Path) -> None:
    """A throwaway local Ray's environment, plus quick metric exports for the demo."""
    _local_ray.prepare_environment(work_dir)
    os.environ.setdefault("RAY_metrics_report_interval_ms", "1000")


def run_demo(
    progress: Callable[[str], None] = lambda _: None,
    wait_s: float = 30.0,
    before_stop: Callable[[LocalPrometheus], None] | None = None,
) -> DemoResult:
    """Run the demo end to end and return what Ray's endpoint and Prometheus showed.

    ``before_stop`` runs last, while Ray and Prometheus still run (e.g. the
    dashboard preview); it is skipped when Prometheus did not start.
    """
    started = time.monotonic()
    work_dir = Path(tempfile.mkdtemp(prefix="rayobs-demo-", dir="/tmp"))
    _prepare_environment(work_dir)
    import ray

    metrics_port = free_port()
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    progress(f"starting a local Ray on 127.0.0.1 (metrics at {metrics_url})")
    _local_ray.init_local(2, _metrics_export_port=metrics_port, log_to_driver=False)
    prometheus: LocalPrometheus | None = None
    missing = ""
    try:
        try:
            prometheus = LocalPrometheus.start([f"127.0.0.1:{metrics_port}"])
            progress(f"started Prometheus at {prometheus.url}, scraping every second")
        except FileNotFoundError:
            missing = f"no 'prometheus' binary on PATH ({INSTALL_PROMETHEUS})"
        except RuntimeError as exc:
            missing = f"Prometheus did not start: {str(exc).splitlines()[0]}"
        note = f"{missing}: column left empty" if missing else ""

        from rayobs.demo import workload

        progress("running the workload: 2 instrumented bank actors, 8 instrumented divisions")
        expected, _actors = workload.run()  # alive until the end: their gauges too
        progress("waiting for Ray's metrics agent to export what was recorded")
        endpoint = _wait_for(lambda: scrape(metrics_url, PREFIXES), expected, wait_s)
        seen_by_prometheus: Series = {}
        if prometheus is not None:
            progress("waiting for Prometheus to scrape it")
            names = {name for name, _ in endpoint}
            seen_by_prometheus = _wait_for(
                lambda: _from_prometheus(prometheus, names), expected, wait_s
            )
            note = note or f"queried {prometheus.url}"
        keys = sorted(set(expected) | set(endpoint))
        rows = tuple(
            Row(
                name,
                tags,
                expected.get((name, tags)),
                endpoint.get((name, tags)),
                seen_by_prometheus.get((name, tags)),
            )
            for name, tags in keys
        )
        if before_stop is not None and prometheus is not None:
            before_stop(prometheus)
        return DemoResult(metrics_url, rows, note, time.monotonic() - started, missing)
    finally:
        if prometheus is not None:
            prometheus.stop()
        ray.shutdown()
        shutil.rmtree(work_dir, ignore_errors=True)


def _from_prometheus(server: LocalPrometheus, names: set[str]) -> Series:
    out: Series = {}
    for name in sorted(names):
        for result in server.query(name):
            key = (name, user_tags(result["metric"]))
            out[key] = out.get(key, 0.0) + float(result["value"][1])
    return out


def _wait_for(read: Callable[[], Series], expected: Series, wait_s: float) -> Series:
    """Poll until every expected series shows its value, or the time is up."""
    deadline = time.monotonic() + wait_s
    seen: Series = {}
    while True:
        with contextlib.suppress(OSError):  # the agent may not serve yet
            seen = read()
        if all(seen.get(key) == value for key, value in expected.items()):
            return seen
        if time.monotonic() > deadline:
            return seen
        time.sleep(0.5)
