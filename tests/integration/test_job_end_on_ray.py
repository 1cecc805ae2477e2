"""A job's counts survive its end: rayobs keeps at least what ``ray.util.metrics`` keeps.

When a job ends, Ray's C++ core worker ends the job's workers with no Python code
running ("Worker force exited because its job has finished", then a quick exit),
after flushing what was recorded into ``ray.util.metrics``. Each scenario runs
a short job whose instrumented calls also record a plain Ray counter, and
compares what Prometheus scraped for both, per name and outcome.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import ray

import rayobs
from tests.harness import BIN, Prometheus, RayCluster, wait_until

JOB = Path(__file__).with_name("_short_job.py")

# per worker, the last value each counter series reached, summed by name and outcome
_TOTALS = (
    'label_join(sum by (name, outcome) (max_over_time({metric}{{name=~"{prefix}_.*"}}[10m])),'
    ' "key", " ", "name", "outcome")'
)


def totals(prometheus: Prometheus, metric: str, prefix: str) -> dict[str, float]:
    return prometheus.values(_TOTALS.format(metric=metric, prefix=prefix), by="key")


def expected(prefix: str, names: dict[str, int]) -> dict[str, float]:
    """Every fifth call of each name (i % 5 == 4) fails."""
    want: dict[str, float] = {}
    for name, n in names.items():
        errors = sum(1 for i in range(n) if i % 5 == 4)
        want[f"{prefix}_{name} ok"] = float(n - errors)
        want[f"{prefix}_{name} error"] = float(errors)
    return want


def assert_rayobs_keeps_what_ray_keeps(
    prometheus: Prometheus, prefix: str, names: dict[str, int]
) -> None:
    want = expected(prefix, names)
    # Ray's own counter first: it tells when everything Ray keeps has been scraped
    prometheus.wait_for(
        _TOTALS.format(metric="ray_job_end_reference_total", prefix=prefix), want, by="key"
    )
    prometheus.wait_for(
        _TOTALS.format(metric="ray_rayobs_calls_total", prefix=prefix), want, by="key", timeout=15
    )


def run_job(cluster: RayCluster, scenario: str) -> subprocess.CompletedProcess[str]:
    env = {**cluster.env, "SCENARIO": scenario, "ADDRESS": cluster.address}
    done = subprocess.run(
        [sys.executable, str(JOB)], env=env, capture_output=True, text=True, timeout=120
    )
    assert "DONE" in done.stdout, done.stdout + done.stderr
    return done


TASK_AND_ACTOR = {"task": 20, "Actor.call": 5}


def test_a_short_job_that_returns_keeps_every_count(
    ray_cluster: RayCluster, prometheus: Prometheus
) -> None:
    started = time.monotonic()
    run_job(ray_cluster, "return")
    assert time.monotonic() - started < 30
    assert_rayobs_keeps_what_ray_keeps(prometheus, "return", TASK_AND_ACTOR)


def test_a_driver_that_shuts_ray_down_right_after_its_last_get(
    ray_cluster: RayCluster, prometheus: Prometheus
) -> None:
    run_job(ray_cluster, "shutdown")
    assert_rayobs_keeps_what_ray_keeps(prometheus, "shutdown", TASK_AND_ACTOR)


def test_threaded_and_async_actors_in_a_short_job(
    ray_cluster: RayCluster, prometheus: Prometheus
) -> None:
    run_job(ray_cluster, "actors")
    assert_rayobs_keeps_what_ray_keeps(
        prometheus, "actors", {"Threaded.call": 20, "Async.call": 20}
    )


def test_a_driver_killed_with_sigterm(ray_cluster: RayCluster, prometheus: Prometheus) -> None:
    env = {**ray_cluster.env, "SCENARIO": "sigterm", "ADDRESS": ray_cluster.address}
    driver = subprocess.Popen(
        [sys.executable, str(JOB)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert driver.stdout is not None
        line = driver.stdout.readline()  # blocks until the last result is in
        assert line.startswith("DONE"), line + driver.stderr.read() if driver.stderr else line
        driver.send_signal(signal.SIGTERM)
        assert driver.wait(timeout=30) != 0
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    assert_rayobs_keeps_what_ray_keeps(prometheus, "sigterm", TASK_AND_ACTOR)


def test_a_job_submitted_with_ray_job_submit(
    ray_cluster: RayCluster, prometheus: Prometheus
) -> None:
    entrypoint = ["env", "SCENARIO=submit", sys.executable, str(JOB)]
    done = subprocess.run(
        [
            str(BIN / "ray"),
            "job",
            "submit",
            "--address",
            ray_cluster.dashboard_url,
            "--",
            *entrypoint,
        ],
        env=ray_cluster.env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert "DONE ok=" in done.stdout, done.stdout + done.stderr
    assert "succeeded" in done.stdout, done.stdout
    assert_rayobs_keeps_what_ray_keeps(prometheus, "submit", TASK_AND_ACTOR)


# ------------------------------------------------------------- a worker killed


_reference = None


def _record_reference(name: str) -> None:
    global _reference
    from ray.util.metrics import Counter

    if _reference is None:
        _reference = Counter("job_end_reference", "calls, by ray.util.metrics", ("name", "outcome"))
    _reference.inc(1, {"name": name, "outcome": "ok"})


@rayobs.instrument(name="killed_Victim", include=("call", "block"))
@ray.remote(max_restarts=0)
class Victim:
    def call(self, i: int) -> int:
        _record_reference("killed_Victim.call")
        return i

    def block(self) -> None:
        time.sleep(600)

    def pid(self) -> tuple[int, str | None]:
        return os.getpid(), os.environ.get("RAYOBS_FLUSH_INTERVAL")


def test_a_worker_killed_with_sigkill_keeps_what_finished_before(
    ray_driver: RayCluster, prometheus: Prometheus
) -> None:
    victim = Victim.options(runtime_env={"env_vars": {"RAYOBS_FLUSH_INTERVAL": "300"}}).remote()
    assert ray.get([victim.call.remote(i) for i in range(12)], timeout=60) == list(range(12))
    pid, interval = ray.get(victim.pid.remote(), timeout=60)
    assert interval == "300"  # no periodic push before the kill
    running = victim.block.remote()
    # the running call is in flight at the last export before the process dies
    prometheus.wait_for(
        'max(max_over_time(ray_rayobs_calls_in_flight{name="killed_Victim.block"}[10m]))', 1.0
    )
    # everything that finished did so more than one export interval (500 ms) ago
    time.sleep(1.5)
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(running, timeout=60)
    want = {"killed_Victim.call ok": 12.0}
    prometheus.wait_for(
        _TOTALS.format(metric="ray_job_end_reference_total", prefix="killed"), want, by="key"
    )
    wait_until(
        lambda: totals(prometheus, "ray_rayobs_calls_total", "killed") == want,
        15,
        "rayobs's counts of the killed worker",
    )


# --------------------------------------------- ready before the first call


_READY_DURATION = rayobs.Histogram(
    "job_end_ready_seconds", boundaries=(0.1, 1.0), tag_keys=("kind", "name", "outcome")
)


def _ready(x: int) -> int:
    return x


@ray.remote
def _uncalled_in_a_worker(fn: Any) -> dict[str, bool]:
    """Receive an instrumented function (unpickled here) and never call it."""
    import threading

    from rayobs.calls import _flusher
    from rayobs.metrics import _registry

    deadline = time.monotonic() + 10
    while _flusher.flusher._unprepared and time.monotonic() < deadline:
        time.sleep(0.01)
    threads = {t.name for t in threading.enumerate()}
    return {
        "duration instrument": "job_end_ready_seconds" in _registry._entries,
        "calls instrument": "rayobs_calls" in _registry._entries,
        "flush thread": "rayobs-flush" in threads,
        "gauge keeper": "rayobs-gauge-keeper" in threads,
    }


def test_a_worker_is_ready_to_push_before_its_first_call(ray_driver: RayCluster) -> None:
    """A worker that receives an instrumented callable creates its instruments and
    threads at once, so the push after its first call costs what any push costs
    (measured: under 0.5 ms, against 20-400 ms on a busy machine when the first
    push also imported the backend and started threads) and lands before Ray can
    end the worker."""
    fn = rayobs.instrument(_ready, name="ready_fn", duration_histogram=_READY_DURATION)
    ready = ray.get(_uncalled_in_a_worker.remote(fn), timeout=60)
    assert ready == dict.fromkeys(ready, True)
