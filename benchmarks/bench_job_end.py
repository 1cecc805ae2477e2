"""Completeness at job end: what fraction of a short job's calls reach the node's endpoint.

One standing head (``ray start --head``, Ray's default 10 s export interval), 20
short jobs (1-3 s each, a separate driver process each) that make instrumented
task and actor calls; every call also records a plain ``ray.util.metrics``
counter, the reference. After the last job and two export intervals, the
node's metrics endpoint is read once: calls counted by rayobs and by the
reference, against the calls made. Target: rayobs >= reference, both 100 %.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from rayobs.demo._local_ray import head_command
from rayobs.demo._ports import free_port

JOBS = 20

_JOB = r"""
import os, sys, time
import ray, rayobs
from ray.util.metrics import Counter

JOB = os.environ["BENCH_JOB"]
_ref = []

def reference():
    if not _ref:
        _ref.append(Counter("bench_job_end_reference", "calls", ("name",)))
    _ref[0].inc(1, {"name": JOB})

@rayobs.instrument(name=JOB + "_task")
@ray.remote
def task(i):
    reference()
    return i

@rayobs.instrument(name=JOB + "_Actor")
@ray.remote
class Actor:
    def call(self, i):
        reference()
        return i

tasks, calls, pause = (int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
ray.init(address=os.environ["BENCH_ADDRESS"], logging_level="ERROR")
ray.get([task.remote(i) for i in range(tasks)])
actor = Actor.remote()
for i in range(calls):
    ray.get(actor.call.remote(i))
time.sleep(pause)
"""


def _start_head(temp_dir: Path, metrics_port: int) -> tuple[subprocess.Popen[bytes], str]:
    gcs_port = free_port()
    command = head_command(temp_dir, gcs_port=gcs_port, metrics_port=metrics_port)
    env = {**os.environ, "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}
    log = (temp_dir / "ray-start.log").open("wb")
    head = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    address = f"127.0.0.1:{gcs_port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        probe = subprocess.run(
            [sys.executable, "-c", f"import ray; ray.init(address={address!r}); ray.shutdown()"],
            capture_output=True,
        )
        if probe.returncode == 0:
            return head, address
        time.sleep(1)
    _stop(head)
    raise RuntimeError(f"the Ray head did not start (log: {temp_dir / 'ray-start.log'})")


def _stop(head: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(head.pid, signal.SIGKILL)
        head.wait()


def _counted(text: str, metric: str, key: str) -> dict[str, float]:
    """Sum of ``metric`` per job (the value of label ``key`` up to its first ``_``)."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith(metric + "{"):
            continue
        match = re.search(rf'{key}="(job\d+)', line)
        if match:
            totals[match.group(1)] = totals.get(match.group(1), 0.0) + float(line.rsplit(" ", 1)[1])
    return totals


def main() -> None:
    temp_dir = Path(tempfile.mkdtemp(prefix="rayobs-bench-", dir="/tmp"))
    script = temp_dir / "job.py"
    script.write_text(_JOB)
    metrics_port = free_port()
    head, address = _start_head(temp_dir, metrics_port)
    rng = random.Random(18)
    made: dict[str, int] = {}
    durations = []
    try:
        for n in range(JOBS):
            job = f"job{n}"
            tasks, calls, pause = rng.randint(10, 40), rng.randint(3, 15), rng.uniform(0.0, 1.5)
            env = {**os.environ, "BENCH_JOB": job, "BENCH_ADDRESS": address}
            began = time.perf_counter()
            subprocess.run(
                [sys.executable, str(script), str(tasks), str(calls), f"{pause:.2f}"],
                env=env,
                check=True,
                capture_output=True,
                timeout=120,
            )
            durations.append(time.perf_counter() - began)
            made[job] = tasks + calls
        time.sleep(25)  # two export intervals and a margin
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
    finally:
        _stop(head)
    rayobs = _counted(text, "ray_rayobs_calls_total", "name")
    reference = _counted(text, "ray_bench_job_end_reference_total", "name")
    total = sum(made.values())
    complete_rayobs = sum(1 for j in made if rayobs.get(j, 0) == made[j])
    complete_ref = sum(1 for j in made if reference.get(j, 0) == made[j])
    print(
        f"{JOBS} jobs of {min(durations):.1f}-{max(durations):.1f} s (driver process, start-up "
        f"included), {total} calls, Ray's default 10 s export interval"
    )
    print(f"{'':24}{'calls reached':>15}{'fraction':>10}{'complete jobs':>15}")
    for label, counted, complete in (
        ("rayobs", rayobs, complete_rayobs),
        ("ray.util.metrics", reference, complete_ref),
    ):
        reached = sum(min(counted.get(j, 0), made[j]) for j in made)
        print(f"{label:24}{reached:>15.0f}{reached / total:>10.1%}{complete:>9}/{JOBS}")
    print("target: rayobs >= ray.util.metrics, both 100 %")


if __name__ == "__main__":
    main()
