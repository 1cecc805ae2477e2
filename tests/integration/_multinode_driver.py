"""Driver for the multi-node scenarios.

``python -m tests.integration._multinode_driver ADDRESS TAG PROBES``

Runs in its own process (the test process may be another cluster's driver),
runs an instrumented task on every node as ``PROBES`` (JSON: role -> [calls, of
which fail]) says, then provokes each death on its node. Prints two JSON
objects: scenario -> the pid of the worker that died and what the driver saw
(``RESULT``), and role -> the calls and failures it made there (``PROBES``).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import ray

import rayobs


def hog(pid_file: str, limit: int = 80) -> int:
    """Allocate 100 MB at a time, touching every page, until killed (at most ``limit``)."""
    Path(pid_file).write_text(str(os.getpid()))
    chunks = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(chunks) < limit:
        chunk = bytearray(100 * 1024 * 1024)
        chunk[::4096] = b"x" * len(chunk[::4096])
        chunks.append(chunk)
        time.sleep(0.05)
    return len(chunks)


def segfault(pid_file: str) -> None:
    Path(pid_file).write_text(str(os.getpid()))
    ctypes.string_at(0)


def sleeper(pid_file: str) -> None:
    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(120)


class Resident:
    def pid(self) -> int:
        return os.getpid()


def probe(fail: bool) -> int:
    """A task that raises when asked to: instrumented by ``_probes``."""
    if fail:
        raise ValueError("probe asked to fail")
    return os.getpid()


def _probe_calls(text: str, name: str) -> tuple[float, float]:
    """Calls and error calls of ``name`` on one node's metrics page (summed over workers)."""
    calls = errors = 0.0
    for line in text.splitlines():
        if line.startswith("ray_rayobs_calls_total{") and f'name="{name}"' in line:
            value = float(line.rsplit(" ", 1)[1])
            calls += value
            errors += value if 'outcome="error"' in line else 0.0
    return calls, errors


def _probes(tag: str, plan: dict[str, list[int]]) -> dict[str, dict[str, Any]]:
    """Run the instrumented probe on every node; wait until each node's agent has the counts.

    The driver's workers are killed when it exits: the counts must have reached the
    agents (which keep them) first.
    """
    name = f"node_probe_{tag}"
    task = ray.remote(max_retries=0)(rayobs.instrument(probe, name=name))
    done: dict[str, dict[str, Any]] = {}
    for role, (calls, failing) in plan.items():
        refs = [task.options(resources={role: 1}).remote(i < failing) for i in range(calls)]
        failed = 0
        for ref in refs:
            try:
                ray.get(ref, timeout=60)
            except ray.exceptions.RayTaskError:
                failed += 1
        done[role] = {"calls": calls, "errors": failed}
    ports = {
        role: f"{n['NodeManagerAddress']}:{n['MetricsExportPort']}"
        for n in ray.nodes()
        if n["Alive"]
        for role in plan
        if role in n["Resources"]
    }
    deadline = time.monotonic() + 30
    for role, item in done.items():
        item["endpoint"] = ports[role]
        want = (float(item["calls"]), float(item["errors"]))
        while True:
            url = f"http://{ports[role]}/metrics"
            with urllib.request.urlopen(url, timeout=5) as response:
                seen = _probe_calls(response.read().decode(), name)
            if seen == want or time.monotonic() > deadline:
                item["agent"] = list(seen)
                break
            time.sleep(0.2)
    return done


def _pid_file(scenario: str) -> Path:
    return Path(os.environ["RAYOBS_SCRATCH"]) / f"{scenario}.pid"


def _run(function: Any, scenario: str, tag: str, node: str) -> tuple[int, str]:
    """Run ``function`` as a task on ``node``; its pid and the error Ray raised."""
    pid_file = _pid_file(scenario)
    task = ray.remote(max_retries=0)(function).options(
        name=f"rayobs_{scenario}_{tag}", resources={node: 1}
    )
    ref = task.remote(str(pid_file))
    if function is sleeper:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        os.kill(int(pid_file.read_text()), signal.SIGTERM)
    try:
        outcome = f"returned {ray.get(ref, timeout=120)!r}"
    except ray.exceptions.RayError as exc:
        outcome = type(exc).__name__
    return int(pid_file.read_text()), outcome


def main(address: str, tag: str, plan: dict[str, list[int]]) -> None:
    # The setup hook watches each worker's memory cgroup (rayobs.hooks, opt-in).
    hook = {
        "worker_process_setup_hook": "rayobs.hooks.setup_worker",
        "env_vars": {"RAYOBS_OOM_WATCH_INTERVAL": "0.2"},
    }
    ray.init(address=address, logging_level="ERROR", runtime_env=hook)
    # The probes first: the monitor node's memory monitor kills whatever runs there once
    # the machine's memory use passes its threshold, which other processes move.
    try:
        probes: dict[str, Any] = _probes(tag, plan)
    except Exception as exc:
        probes = {"error": f"driver: {exc!r}"}
    seen: dict[str, dict[str, Any]] = {}
    for scenario, function, node in (
        ("kernel_oom", hog, "limited"),
        ("segfault", segfault, "limited"),
        ("memory_monitor", hog, "monitor"),
        ("sigterm", sleeper, "limited"),
    ):
        try:
            pid, outcome = _run(function, scenario, tag, node)
        except Exception as exc:  # reported, so the test names what went wrong where
            seen[scenario] = {"pid": None, "outcome": f"driver: {exc!r}", "node": node}
            continue
        seen[scenario] = {"pid": pid, "outcome": outcome, "node": node}
    # A detached actor on the node that is killed next: it outlives this driver.
    actor = (
        ray.remote(max_restarts=0)(Resident)
        .options(name=f"rayobs_node_death_{tag}", lifetime="detached", resources={"limited": 1})
        .remote()
    )
    try:
        seen["node_death"] = {"pid": ray.get(actor.pid.remote(), timeout=120), "node": "limited"}
    except Exception as exc:
        seen["node_death"] = {"pid": None, "outcome": f"driver: {exc!r}", "node": "limited"}
    print("RESULT " + json.dumps(seen), flush=True)
    print("PROBES " + json.dumps(probes), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))
