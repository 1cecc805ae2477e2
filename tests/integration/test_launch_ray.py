"""``rayobs launch --memory --cpu -- ray start --head --block`` on a real Ray of its own.

The head runs on 127.0.0.1 with its own temp dir, free ports and token file;
a job runs against it from a separate driver process; the head is then
stopped the way Kubernetes stops a pod: SIGTERM to the container's command,
which is rayobs. Never ``ray stop``: it would stop every Ray on the machine.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rayobs.demo._local_ray import head_command, loopback_env
from rayobs.profiling import CpuProfile, MemoryProfile, load
from tests.harness import _kill_stragglers, free_port, http_get, new_token, wait_until

pytestmark = pytest.mark.ray


@dataclass
class Launched:
    status: int
    stderr: str
    job_output: str
    memory: MemoryProfile
    cpu: CpuProfile


@pytest.fixture(scope="module")
def launched() -> Iterator[Launched]:
    temp = Path(tempfile.mkdtemp(prefix="rxl-", dir="/tmp"))  # Ray's socket paths must stay short
    token = new_token(temp)
    gcs, metrics, dashboard = free_port(), free_port(), free_port()
    env = loopback_env(token)
    out = temp / "profiles"
    command = [
        sys.executable, "-m", "rayobs", "launch", "--memory", "--cpu", "--interval", "0.25",
        "-o", str(out), "--",
        *head_command(
            temp / "ray", gcs_port=gcs, metrics_port=metrics, num_cpus=1, dashboard_port=dashboard
        ),
    ]  # fmt: skip
    log = (temp / "launch.err").open("w+")
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_until(
            lambda: (
                proc.poll() is None
                and (temp / "ray" / "session_latest").exists()
                and http_get(f"http://127.0.0.1:{metrics}/metrics", timeout=2)
            ),
            90,
            "the Ray head under rayobs launch",
        )
        job = textwrap.dedent(
            f"""
            import ray
            ray.init(address="127.0.0.1:{gcs}", logging_level="WARNING")

            @ray.remote
            def square(x):
                return x * x

            print("job:", sum(ray.get([square.remote(i) for i in range(10)])))
            """
        )
        driver = subprocess.run(
            [sys.executable, "-c", job], env=env, capture_output=True, text=True, timeout=120
        )
        assert driver.returncode == 0, driver.stderr
        proc.send_signal(signal.SIGTERM)  # what the kubelet does when a pod is deleted
        status = proc.wait(timeout=60)
        log.seek(0)
        files = {p.suffix: p for p in out.iterdir()}
        memory, cpu = load(files[".dat"]), load(files[".prof"])
        assert isinstance(memory, MemoryProfile) and isinstance(cpu, CpuProfile)
        yield Launched(status, log.read(), driver.stdout, memory, cpu)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        _kill_stragglers(str(temp))
        shutil.rmtree(temp, ignore_errors=True)


def test_the_job_ran_and_the_status_is_ray_starts_own(launched: Launched) -> None:
    assert launched.job_output == "job: 285\n"
    # `ray start --block` handles SIGTERM itself (stops its processes, then sys.exit(1));
    # rayobs passes that status on unchanged.
    assert launched.status == 1
    assert "exited with status 1" in launched.stderr


def test_memory_samples_cover_rays_child_processes(launched: Launched) -> None:
    memory = launched.memory
    assert memory.samples >= 20  # 0.25 s apart over the run
    names = {child.name for child in memory.children}
    assert {"raylet", "gcs_server"} <= names
    assert any(n.startswith("ray::") or n == "default_worker.py" for n in names)  # workers
    raylet = next(c for c in memory.children if c.name == "raylet")
    assert raylet.peak_mib > 5 and len(raylet.times) >= 5
    assert memory.total.peak_mib > memory.main.peak_mib + raylet.peak_mib
    assert memory.main.name == "ray-start"


def test_cpu_profile_holds_ray_start(launched: Launched) -> None:
    [start] = launched.cpu.top(1, match="ray/scripts/scripts.py")
    assert start.function in {"main", "start"}
    functions = {(Path(f.file).name, f.function) for f in launched.cpu.functions}
    assert ("scripts.py", "start") in functions  # `ray start`, through its entry point
    assert ("node.py", "__init__") in functions  # the head's processes being started
    assert ("node.py", "sigterm_handler") in functions  # the profile was flushed after SIGTERM
