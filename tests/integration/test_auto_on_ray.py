"""Auto mode on the real cluster: ``rayobs run`` as a driver and as a ``ray job submit``
entrypoint, with no decorator in the job, and Ray's serialization errors with notes.

The job (``_auto_job.py``) joins the session's cluster, whose workers were started by
``ray start`` and never saw the driver's environment: auto mode reaches them through
the job's runtime env only. Prometheus must show exactly the calls the job made,
a function defined inside a worker included, and nothing for what opted out.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import pytest
import ray

import rayobs.auto
import rayobs.otel
from tests import requires
from tests.harness import BIN, Prometheus, RayCluster, wait_until
from tests.tracebacks import rayobs_frames

JOB = Path(__file__).with_name("_auto_job.py")
RUN = [sys.executable, "-m", "rayobs", "run"]


def expected(prefix: str) -> dict[str, float]:
    return {
        f"{prefix}_square/ok": 3.0,
        f"{prefix}_square/error": 1.0,
        f"{prefix}_Counter.__init__/ok": 1.0,
        f"{prefix}_Counter.add/ok": 2.0,
        f"{prefix}_Counter.__call__/ok": 1.0,
        f"{prefix}_nested/ok": 1.0,
        f"{prefix}_inner/ok": 3.0,  # defined and run inside a worker
        f"{prefix}_add_one/ok": 4.0,  # 20 rows in batches of 5
        f"{prefix}_Double.__init__/ok": 1.0,  # one actor
        f"{prefix}_Double.__call__/ok": 20.0,
    }


def totals(prometheus: Prometheus, prefix: str) -> dict[str, float]:
    query = (
        "sum by (name, outcome) (max_over_time("
        f'ray_rayobs_calls_total{{name=~"{prefix}_.*"}}[10m]))'
    )
    return {
        f"{r['metric']['name']}/{r['metric']['outcome']}": float(r["value"][1])
        for r in prometheus.query(query)
    }


def assert_counted(prometheus: Prometheus, prefix: str) -> None:
    want = expected(prefix)
    seen: dict[str, float] = {}

    def exact() -> bool:
        nonlocal seen
        seen = totals(prometheus, prefix)
        return seen == want

    try:
        wait_until(exact, 60, f"the {prefix} job's calls in Prometheus", interval=1)
    except TimeoutError:
        assert seen == want  # shows the difference
    assert f"{prefix}_probe/ok" not in seen  # skipped


def assert_job_output(stdout: str) -> None:
    lines = stdout.splitlines()
    assert "probe True 1 rayobs.auto.setup_worker" in lines, stdout
    assert "outcomes 1 4 9 ValueError 3 3 420" in lines, stdout
    assert "DONE" in lines


def test_rayobs_run_instruments_a_job_with_no_decorator(
    ray_cluster: RayCluster, prometheus: Prometheus, tmp_path: Path
) -> None:
    requires.module("opentelemetry.sdk", "otel")
    spans = tmp_path / "spans"
    env = {**ray_cluster.env, "PREFIX": "auto_run", "ADDRESS": ray_cluster.address}
    done = subprocess.run(
        [*RUN, "--exporter", f"jsonl:{spans}", "--", sys.executable, str(JOB)],
        env={**env, "EXIT_STATUS": "3"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 3, done.stdout + done.stderr  # the job's own status
    assert_job_output(done.stdout)
    assert_counted(prometheus, "auto_run")
    # --exporter reached the workers too: spans of the driver's and the worker's functions
    names = wait_until(
        lambda: (
            {"auto_run_square", "auto_run_inner"}
            <= (found := {s["name"] for s in rayobs.otel.read_spans(spans)})
            and found
        ),
        30,
        "the job's spans",
    )
    assert "auto_run_probe" not in names


def test_rayobs_run_as_a_ray_job_submit_entrypoint(
    ray_cluster: RayCluster, prometheus: Prometheus
) -> None:
    submit = [str(BIN / "ray"), "job", "submit", "--address", ray_cluster.dashboard_url]
    entrypoint = ["env", "PREFIX=auto_submit", *RUN, "--", sys.executable, str(JOB)]
    done = subprocess.run(
        [*submit, "--", *entrypoint],
        env=ray_cluster.env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert "succeeded" in done.stdout, done.stdout + done.stderr
    assert_job_output(done.stdout)
    assert_counted(prometheus, "auto_submit")


# ---------------------------------------------------------------- serialization errors

LOCK = threading.Lock()
POOL: Any = None


def _calls() -> dict[str, Any]:
    """Each way a driver hands Ray something it cannot pickle, defined in the current mode."""

    @ray.remote
    def echo(*args: Any) -> Any:
        return args

    @ray.remote
    def uses_lock() -> bool:
        with LOCK:
            return True

    @ray.remote
    def uses_pool(n: int) -> int:
        return sum(POOL.map(abs, range(n)))

    @ray.remote
    class Holder:
        def __init__(self, *items: Any) -> None:
            self.items = items

        def keep(self, item: Any) -> None:
            self.items += (item,)

    @ray.remote
    class Guarded:
        guard = LOCK

        def get(self) -> int:
            return 1

    holder = Holder.remote()
    return {
        "argument": lambda: echo.remote(1, {"guard": LOCK}),
        "put": lambda: ray.put({"x": [LOCK]}),
        "actor argument": lambda: Holder.remote(LOCK),
        "method argument": lambda: holder.keep.remote([LOCK]),
        "function": lambda: uses_lock.remote(),
        "pool": lambda: uses_pool.remote(3),
        "actor class": lambda: Guarded.remote(),
    }


PATHS = {
    "argument": "args[1]['guard']",
    "put": "value['x'][0]",
    "actor argument": "args[0]",
    "method argument": "args[0][0]",
    "function": "uses_lock.__globals__['LOCK']",
    "pool": "uses_pool.__globals__['POOL']",
    "actor class": "Guarded.guard",
}


def _raised(call: Any) -> BaseException:
    with pytest.raises(Exception) as info:
        call()
    return info.value


@pytest.fixture
def pool() -> Iterator[None]:
    global POOL
    POOL = Pool(1)
    try:
        yield
    finally:
        POOL.terminate()
        POOL = None


def test_serialization_errors_gain_the_inspectors_report(
    ray_driver: RayCluster, pool: None
) -> None:
    bare = {case: _raised(call) for case, call in _calls().items()}
    rayobs.auto.instrument()
    try:
        noted = {case: _raised(call) for case, call in _calls().items()}
    finally:
        rayobs.auto.uninstrument()
    for case, exc in noted.items():
        plain = bare[case]
        assert type(exc) is type(plain), case
        # Ray's own first line; below it Ray prints what it inspected (the wrapper, for
        # an instrumented function)
        assert str(exc).splitlines()[:1] == str(plain).splitlines()[:1], case
        assert not getattr(plain, "__notes__", None), case
        notes = exc.__notes__
        assert len(notes) == 1 and notes[0].startswith("rayobs: "), (case, notes)
        assert f"[1] {PATHS[case]}\n" in notes[0], (case, notes[0])
        assert rayobs_frames(exc) == [], case
