"""Provoke real worker deaths on real Ray and check the verdicts of ``rayobs diagnose``.

Each scenario runs once on the shared session cluster; its deaths are then
diagnosed twice: live through the state API (``--address``) and post-mortem
from a copy of the session's logs (``--session-dir``, no cluster contacted).
Ray's memory monitor gets a small cluster of its own, started with a low
``RAY_memory_usage_threshold`` and diagnosed after it is gone.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.harness import RayCluster, wait_until
from tests.harness import diagnose_json as diagnose

pytestmark = pytest.mark.ray

TAG = uuid.uuid4().hex[:8]

# scenario -> (category, confidence) measured on Ray 2.60; the docs table quotes these.
EXPECTED = {
    "sigkill_self": ("killed", "ambiguous"),
    "segfault": ("segfault", "certain"),
    "sys_exit_3": ("error", "certain"),
    "os_exit_1": ("killed", "ambiguous"),
    "init_raises": ("error", "certain"),
    "ray_kill": ("killed", "certain"),
    # Ray records these as "exit code 1. The process receives a SIGTERM." (a busy task's worker)
    # and "Exit code: 1. The process receives a SIGTERM." (an idle actor's).
    "sigterm_task": ("terminated", "certain"),
    "sigterm_actor": ("terminated", "certain"),
}


def _name(scenario: str) -> str:
    return f"rayobs_{scenario}_{TAG}"


def _by_scenario(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for death in document["deaths"]:
        for scenario in EXPECTED:
            if _name(scenario) in (death["name"] or ""):
                found[scenario] = death
    return found


def _sigkill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _segfault() -> None:
    ctypes.string_at(0)


def _sys_exit_3() -> None:
    sys.exit(3)


def _os_exit_1() -> None:
    os._exit(1)


class _InitRaises:
    def __init__(self) -> None:
        raise ValueError("boom in __init__")

    def ping(self) -> int:
        return 1


class _Victim:
    def pid(self) -> int:
        return os.getpid()


def _sleep_with_pid_in(path: str) -> None:
    Path(path).write_text(str(os.getpid()))
    time.sleep(120)


def _sigterm_a_running_task(tmp: Path) -> None:
    """SIGTERM the worker of a task while it runs, as the raylet or a person would."""
    import ray

    pid_file = tmp / "sigterm_task.pid"
    task = ray.remote(max_retries=0)(_sleep_with_pid_in).options(name=_name("sigterm_task"))
    ref = task.remote(str(pid_file))
    pid = int(wait_until(lambda: pid_file.exists() and pid_file.read_text(), 60, "the task's pid"))
    os.kill(pid, signal.SIGTERM)
    with pytest.raises(ray.exceptions.WorkerCrashedError):
        ray.get(ref, timeout=60)


def _sigterm_an_idle_actor(address: str) -> None:
    """SIGTERM an actor's worker between calls; wait, bounded, until Ray records its death.

    No call is made meanwhile: one that reaches the worker while it handles the signal
    can trip a check inside Ray (a crash of Ray's own, not the death under test).
    """
    import ray
    from ray.util.state import get_actor

    actor = ray.remote(max_restarts=0)(_Victim).options(name=_name("sigterm_actor")).remote()
    os.kill(ray.get(actor.pid.remote(), timeout=60), signal.SIGTERM)
    actor_id = actor._actor_id.hex()

    def dead() -> bool:
        record = get_actor(actor_id, address=address, timeout=10)
        return record is not None and record.state == "DEAD"

    wait_until(dead, 60, "Ray to record the SIGTERM'd actor as dead")
    del actor  # only now: dropped earlier, Ray could end it as out of scope instead


@pytest.fixture(scope="module")
def provoked(ray_driver: RayCluster, tmp_path_factory: pytest.TempPathFactory) -> RayCluster:
    """Run every scenario once on the session cluster."""
    import ray

    for scenario, function in (
        ("sigkill_self", _sigkill_self),
        ("segfault", _segfault),
        ("sys_exit_3", _sys_exit_3),
        ("os_exit_1", _os_exit_1),
    ):
        task = ray.remote(max_retries=0)(function).options(name=_name(scenario))
        with pytest.raises(ray.exceptions.RayError):
            ray.get(task.remote(), timeout=60)

    failing = ray.remote(max_restarts=0)(_InitRaises).options(name=_name("init_raises"))
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(failing.remote().ping.remote(), timeout=60)

    victim = ray.remote(_Victim).options(name=_name("ray_kill")).remote()
    assert ray.get(victim.pid.remote(), timeout=60) > 0
    ray.kill(victim)

    _sigterm_a_running_task(tmp_path_factory.mktemp("sigterm"))
    _sigterm_an_idle_actor(ray_driver.address)
    return ray_driver


def _poll(*args: str, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Diagnose until Ray has recorded every scenario's death (its records lag a little)."""

    seen: list[str] = []

    def all_recorded() -> dict[str, dict[str, Any]] | None:
        document = diagnose(*args, env=env)
        seen[:] = [str(d["name"]) for d in document["deaths"]]
        found = _by_scenario(document)
        return found if set(found) == set(EXPECTED) else None

    try:
        result: dict[str, dict[str, Any]] = wait_until(all_recorded, 60, "every death")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; deaths seen by name: {seen}") from None
    return result


@pytest.fixture(scope="module")
def live(provoked: RayCluster) -> dict[str, dict[str, Any]]:
    """``rayobs diagnose --address A --session-dir S``: state API and logs of a live cluster."""
    return _poll(
        "--address", provoked.address, "--session-dir", str(provoked.session_dir), env=provoked.env
    )


@pytest.fixture(scope="module")
def alone(provoked: RayCluster) -> dict[str, dict[str, Any]]:
    """``rayobs diagnose --address A``: the state API alone."""
    return _poll("--address", provoked.address, env=provoked.env)


def test_state_api_alone(alone: dict[str, dict[str, Any]], live: dict[str, dict[str, Any]]) -> None:
    """Every death is found through the state API alone, with the same verdicts.

    A crash trace is only in the worker's .err log, which the state API serves
    through the node's dashboard agent; the segfault is checked with the logs
    at hand (``live``) rather than depend on that agent.
    """
    for scenario, death in alone.items():
        assert death["worker_id"] == live[scenario]["worker_id"]
        assert all(e["source"].startswith("state-api") for e in death["evidence"])
        if scenario != "segfault":
            assert (death["category"], death["confidence"]) == EXPECTED[scenario], death


def test_the_dashboard_url_finds_the_same_deaths(
    provoked: RayCluster, alone: dict[str, dict[str, Any]]
) -> None:
    """``--address http://HOST:PORT`` reads the same state API, crash traces included."""
    by_url = _poll("--address", provoked.dashboard_url, env=provoked.env)
    for scenario, death in by_url.items():
        same = alone[scenario]
        assert (death["worker_id"], death["category"], death["confidence"]) == (
            same["worker_id"],
            same["category"],
            same["confidence"],
        )
        sources = [e["source"] for e in death["evidence"]]
        assert sources == [e["source"] for e in same["evidence"]]


@pytest.mark.parametrize("scenario", list(EXPECTED))
def test_live_verdicts(live: dict[str, dict[str, Any]], scenario: str) -> None:
    death = live[scenario]
    assert (death["category"], death["confidence"]) == EXPECTED[scenario], death
    assert death["evidence"], death
    assert death["worker_id"] and death["pid"]


def test_live_details(live: dict[str, dict[str, Any]]) -> None:
    assert live["sys_exit_3"]["code"] == 3
    assert live["segfault"]["signal"] == "SIGSEGV"
    assert any(
        "SIGSEGV" in e["line"] and e["source"].startswith("worker-")
        for e in live["segfault"]["evidence"]
    )
    assert "ValueError: boom in __init__" in live["init_raises"]["summary"]
    assert "ray.kill" in live["ray_kill"]["summary"]
    # A SIGTERM'd worker: the code Ray recorded (its handler's sys.exit(1)) and the signal.
    for scenario in ("sigterm_task", "sigterm_actor"):
        death = live[scenario]
        assert (death["code"], death["signal"]) == (1, "SIGTERM"), death
        assert death["exit_type"] == "SYSTEM_ERROR", death
        assert death["summary"].startswith("exit status 1 from its SIGTERM handler"), death
        assert any("The process receives a SIGTERM" in e["line"] for e in death["evidence"])
    # Ray records no exit status for a worker that vanished: the verdict says so.
    for scenario in ("sigkill_self", "os_exit_1"):
        assert "no exit status recorded" in live[scenario]["summary"]
        assert live[scenario]["code"] is None


def test_post_mortem_on_a_copied_session(
    provoked: RayCluster, live: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    copy = tmp_path / "session-copy"
    shutil.copytree(provoked.session_dir / "logs", copy / "logs", symlinks=True)
    document = diagnose("--session-dir", str(copy))
    assert document["session"] == "session-copy"
    by_worker = {d["worker_id"]: d for d in document["deaths"]}
    for scenario, death in live.items():
        post = by_worker.get(death["worker_id"])
        assert post is not None, f"{scenario}: worker {death['worker_id']} not found in the logs"
        assert (post["category"], post["confidence"]) == EXPECTED[scenario], (scenario, post)
        assert post["pid"] == death["pid"]
        assert all(not e["source"].startswith("state-api") for e in post["evidence"])


# --- Ray's memory monitor ------------------------------------------------------------------

HOG = textwrap.dedent(
    """
    import sys, time
    import ray

    ray.init(address=sys.argv[1], logging_level="ERROR")

    @ray.remote(max_retries=0)
    def hog():
        chunks = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(chunks) < 80:  # at most 8 GB
            chunk = bytearray(100 * 1024 * 1024)
            chunk[::4096] = b"x" * len(chunk[::4096])  # touch every page
            chunks.append(chunk)
            time.sleep(0.05)
        return len(chunks)

    try:
        print("survived", ray.get(hog.options(name=sys.argv[2]).remote(), timeout=90))
    except ray.exceptions.OutOfMemoryError:
        print("OutOfMemoryError")
    """
)


def _threshold(headroom_bytes: int = 1536 * 1024 * 1024) -> float:
    """A memory-usage threshold ``headroom_bytes`` above what the machine uses now."""
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    total = int(info["MemTotal"].split()[0]) * 1024
    available = int(info["MemAvailable"].split()[0]) * 1024
    return min(0.95, (total - available + headroom_bytes) / total)


def test_memory_monitor_kill(tmp_path: Path) -> None:
    cluster = RayCluster.start(
        num_cpus=1,
        extra_env={
            "RAY_memory_usage_threshold": f"{_threshold():.3f}",
            "RAY_memory_monitor_refresh_ms": "100",
        },
    )
    name = _name("memory_monitor")
    try:
        driver = subprocess.run(
            [sys.executable, "-c", HOG, cluster.address, name],
            capture_output=True,
            text=True,
            timeout=150,
            env=cluster.env,
        )
        assert "OutOfMemoryError" in driver.stdout, driver.stdout + driver.stderr[-2000:]

        def recorded() -> dict[str, Any] | None:
            document = diagnose("--address", cluster.address, env=cluster.env)
            return next((d for d in document["deaths"] if d["name"] == name), None)

        live = wait_until(recorded, 30, "the OOM kill in the state API")
        copy = tmp_path / "oom-session"
        shutil.copytree(cluster.session_dir / "logs", copy / "logs", symlinks=True)
    finally:
        cluster.stop()

    # The cluster is gone: only the copied logs are left.
    post = next(
        d for d in diagnose("--session-dir", str(copy))["deaths"] if d["pid"] == live["pid"]
    )
    for death in (live, post):
        assert (death["category"], death["confidence"]) == ("oom_killed", "certain"), death
        assert death["exit_type"] == "NODE_OUT_OF_MEMORY"
        assert "memory monitor" in death["summary"]
    assert any("low on memory" in e["line"] or "pid=" in e["line"] for e in post["evidence"])
