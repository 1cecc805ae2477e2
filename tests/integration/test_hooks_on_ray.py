"""The worker setup hook on the shared real cluster, read back from logs, files and Prometheus.

Ray 2.60 applies ``worker_process_setup_hook`` only from a job's runtime env
(``ray.init``, job submission); in ``.options(runtime_env=...)`` it is
silently ignored. So a separate driver process joins the shared cluster with
the hook in its job runtime env, runs an actor and a crashing task, and keeps
the actor alive until these tests are done.
"""

from __future__ import annotations

import json
import marshal
import re
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Prometheus, RayCluster, wait_until

TAG = uuid.uuid4().hex[:8]

DRIVER = """
    import ctypes, json, os, sys
    import ray

    ray.init(
        address=sys.argv[1],
        logging_level="WARNING",
        log_to_driver=False,
        runtime_env={
            "worker_process_setup_hook": "rayobs.hooks.setup_worker",
            "env_vars": {
                "RAYOBS_WORKER_RSS_INTERVAL": "0.5",
                "RAYOBS_WORKER_CPROFILE_DIR": sys.argv[2],
            },
        },
    )

    def rayobs_profiled_crunch_TAG():
        return sum(i * i for i in range(200_000))

    @ray.remote
    class Sampler:
        def identity(self):
            return ray.get_runtime_context().get_worker_id(), os.getpid()

        def crunch(self):
            return rayobs_profiled_crunch_TAG()

    @ray.remote(max_retries=0)
    def rayobs_segfault_TAG():
        # Not dumpable: no core file to write (a machine whose core_pattern pipes
        # to a slow or absent helper would keep the dying worker, and this test, waiting).
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
        ctypes.string_at(0)

    def stage(name):  # where the driver got to, should the test time out
        print("RAYOBS-STAGE", name, flush=True)

    stage("connected")
    sampler = Sampler.remote()
    worker_id, pid = ray.get(sampler.identity.remote(), timeout=120)
    stage("actor up")
    ray.get(sampler.crunch.remote(), timeout=120)
    stage("crunched")
    try:
        ray.get(rayobs_segfault_TAG.remote(), timeout=120)
        crashed = None
    except ray.exceptions.GetTimeoutError:
        raise
    except Exception as exc:
        crashed = type(exc).__name__
    info = {"worker_id": worker_id, "pid": pid, "crashed": crashed}
    print("RAYOBS-INFO", json.dumps(info), flush=True)
    sys.stdin.read()  # keep the actor alive until the test closes stdin
""".replace("TAG", TAG)


@dataclass
class HookedJob:
    info: dict[str, Any]
    cprofile_dir: Path
    session_dir: Path


@pytest.fixture(scope="module")
def hooked_job(
    ray_cluster: RayCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HookedJob]:
    cprofile_dir = tmp_path_factory.mktemp("worker-profiles")
    out_path = cprofile_dir.parent / f"hooked-driver-{TAG}.out"
    err_path = cprofile_dir.parent / f"hooked-driver-{TAG}.err"
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(DRIVER), ray_cluster.address, str(cprofile_dir)],
            env=ray_cluster.env,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
            text=True,
        )

    def info_line() -> str | None:
        for line in out_path.read_text().splitlines():  # Ray may print its own lines first
            if line.startswith("RAYOBS-INFO "):
                return line
        if proc.poll() is not None:
            raise AssertionError(f"the driver exited {proc.returncode}")
        return None

    try:
        try:
            line = wait_until(info_line, 240, "the hooked driver", interval=0.5)
        except (TimeoutError, AssertionError) as exc:
            stages = [ln for ln in out_path.read_text().splitlines() if "RAYOBS-STAGE" in ln]
            status = subprocess.run(
                [
                    str(Path(sys.executable).parent / "ray"),
                    "status",
                    "--address",
                    ray_cluster.address,
                ],
                env=ray_cluster.env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            raise AssertionError(
                f"{exc}; stages reached: {stages}; driver stderr: {err_path.read_text()[-3000:]}; "
                f"ray status: {status.stdout[-2000:]}"
            ) from None
        info = json.loads(line.removeprefix("RAYOBS-INFO "))
        yield HookedJob(info, cprofile_dir, ray_cluster.session_dir)
    finally:
        if proc.poll() is None:
            try:
                proc.communicate(input="", timeout=60)  # EOF on stdin: the driver exits
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)


def test_segfault_leaves_every_threads_traceback_in_the_worker_log(hooked_job: HookedJob) -> None:
    assert hooked_job.info["crashed"] == "WorkerCrashedError"

    def crash_log() -> str | None:
        for path in (hooked_job.session_dir / "logs").glob("worker-*.err"):
            text = path.read_text(errors="replace")
            if f":task_name:rayobs_segfault_{TAG}" in text and "Extension modules" in text:
                return text
        return None

    text = wait_until(crash_log, 30, "the crashed worker's log")
    assert "Fatal Python error: Segmentation fault" in text
    # Ray's own faulthandler prints only "Stack (most recent call first)" for the
    # crashing thread; the hook's all_threads=True marks it and lists the others.
    assert "Current thread 0x" in text
    assert f"in rayobs_segfault_{TAG}" in text
    assert re.search(r"^Thread 0x[0-9a-f]+ \(most recent call first\):$", text, re.MULTILINE)


def test_rss_sampling_reaches_prometheus(hooked_job: HookedJob, prometheus: Prometheus) -> None:
    worker = hooked_job.info["worker_id"]
    for metric in ("ray_rayobs_worker_rss_bytes", "ray_rayobs_worker_rss_peak_bytes"):
        # the actor's worker reports a plausible resident size (over 10 MB)
        prometheus.wait_for(f'count({metric}{{WorkerId="{worker}"}} > 1e7)', 1.0, timeout=60)
    prometheus.wait_for(
        f'count(ray_rayobs_worker_rss_peak_bytes{{WorkerId="{worker}"}} '
        f'>= on(WorkerId) ray_rayobs_worker_rss_bytes{{WorkerId="{worker}"}})',
        1.0,
    )


def test_each_worker_writes_its_cprofile(hooked_job: HookedJob) -> None:
    path = hooked_job.cprofile_dir / f"worker-{hooked_job.info['pid']}.prof"

    def profiled() -> bool:
        if not path.exists():
            return False
        names = {name for (_, _, name) in marshal.loads(path.read_bytes())}
        return f"rayobs_profiled_crunch_{TAG}" in names

    # snapshots are rewritten every 5 s while the worker lives
    wait_until(profiled, 30, f"the actor's profile in {path}")
    assert time.time() - path.stat().st_mtime < 30
