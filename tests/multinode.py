"""A real three-node Ray cluster on 127.0.0.1, one node inside a memory-limited cgroup.

Built with ``ray.cluster_utils.Cluster`` (Ray's own helper: ``ray start --address``
refuses a second node on one machine when ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``).
The test process starts the nodes but never connects to them as a driver (the
single-node ``ray_driver`` fixture may own this process's Ray connection):
scenarios run in driver subprocesses.

The nodes, 1 CPU each, told apart by a custom resource:

- ``head``: GCS and dashboard; fast node health checks, so a dead node is
  noticed within seconds;
- ``limited``: its raylet and workers in a cgroup with a memory limit, Ray's
  memory monitor off, as in a pod with a memory limit: the kernel OOM-kills;
- ``monitor``: Ray's memory monitor on, its threshold a little above what the
  machine uses now, so a task allocating ``MONITOR_HEADROOM`` is killed by Ray.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.cgroups import MemoryCgroup
from tests.harness import REPO, _kill_stragglers, free_port, wait_until

CGROUP_LIMIT = 600 * 1024 * 1024
MONITOR_HEADROOM = 900 * 1024 * 1024
ROLES = ("head", "limited", "monitor")

# Every node: no metrics wait in tests; nodes declared dead after ~2 s without an answer.
_COMMON_ENV = {
    "RAY_metrics_report_interval_ms": "500",
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "500",
    "RAY_health_check_failure_threshold": "3",
    "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",
}


def monitor_threshold(headroom_bytes: int = MONITOR_HEADROOM) -> float:
    """A memory-usage threshold ``headroom_bytes`` above what the machine uses now."""
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    total = int(info["MemTotal"].split()[0]) * 1024
    available = int(info["MemAvailable"].split()[0]) * 1024
    return min(0.95, (total - available + headroom_bytes) / total)


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in ``os.environ`` while a node's processes are started (they inherit it)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (read from /proc)."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(proc.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, ()))
    return found


@dataclass
class MultiNodeCluster:
    """The running cluster, its nodes by role, and the cgroup of the ``limited`` node."""

    cluster: Any  # ray.cluster_utils.Cluster
    temp_dir: Path
    env: dict[str, str]
    cgroup: MemoryCgroup | None
    nodes: dict[str, Any] = field(default_factory=dict)  # role -> ray._private.node.Node
    node_ids: dict[str, str] = field(default_factory=dict)  # role -> node id (hex)
    node_env: dict[str, str] = field(default_factory=dict)  # what every node is started with

    @property
    def address(self) -> str:
        return str(self.cluster.address)

    @property
    def dashboard_url(self) -> str:
        return f"http://{self.cluster.webui_url}"

    @property
    def session_dir(self) -> Path:
        return Path(self.nodes["head"].get_session_dir_path()).resolve()

    def raylet_pid(self, role: str) -> int:
        from ray._private import ray_constants

        processes = self.nodes[role].all_processes[ray_constants.PROCESS_TYPE_RAYLET]
        return int(processes[0].process.pid)

    @classmethod
    def start(cls, env: dict[str, str], cgroup: MemoryCgroup | None) -> MultiNodeCluster:
        """Start head, ``limited`` (moved into ``cgroup``) and ``monitor``; wait for all three."""
        from ray.cluster_utils import Cluster

        temp_dir = Path(tempfile.mkdtemp(prefix="rayobs-mn-", dir="/tmp"))
        # Ray writes its "current cluster" file under $RAY_TMPDIR/ray: keep it in here.
        (temp_dir / "ray").mkdir()
        base = dict(_COMMON_ENV, RAY_TMPDIR=str(temp_dir), RAY_memory_monitor_refresh_ms="0")
        base["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
        self = cls(Cluster(), temp_dir, {**env, **base}, cgroup, node_env=base)
        try:
            with _environment(base):
                self.nodes["head"] = self.cluster.add_node(
                    num_cpus=1,
                    resources={"head": 1},
                    temp_dir=str(temp_dir),
                    include_dashboard=True,
                    dashboard_host="127.0.0.1",
                    dashboard_port=free_port(),  # never 8265: other clusters may run here
                    node_ip_address="127.0.0.1",
                )
                self.nodes["limited"] = self.cluster.add_node(
                    num_cpus=1, resources={"limited": 1}, node_ip_address="127.0.0.1"
                )
            monitor = dict(
                base,
                RAY_memory_monitor_refresh_ms="100",
                RAY_memory_usage_threshold=f"{monitor_threshold():.3f}",
            )
            with _environment(monitor):
                self.nodes["monitor"] = self.cluster.add_node(
                    num_cpus=1, resources={"monitor": 1}, node_ip_address="127.0.0.1"
                )
            self.cluster.wait_for_nodes(timeout=60)
            self.node_ids = {role: node.node_id for role, node in self.nodes.items()}
            if cgroup is not None:
                self.confine("limited", cgroup)
        except BaseException:
            self.stop()
            raise
        return self

    def add_node(self, role: str, **options: Any) -> str:
        """Start one more worker node with a custom resource ``role``; wait for it; its node id.

        For modules that need a node of their own (the shared ones may be dead
        by then): ``options`` go to ``Cluster.add_node``; ``stop()`` ends it.
        """
        if role in self.nodes:
            raise ValueError(f"the cluster already has a node {role!r}")
        options = {"num_cpus": 1, "resources": {role: 1}, **options}
        with _environment(self.node_env):
            node = self.cluster.add_node(node_ip_address="127.0.0.1", **options)
        self.nodes[role] = node
        self.node_ids[role] = node.node_id
        return str(node.node_id)

    def confine(self, role: str, cgroup: MemoryCgroup) -> None:
        """Move a node's raylet and every worker it started into ``cgroup``."""
        raylet = self.raylet_pid(role)
        for pid in descendants(raylet):
            cgroup.add(pid)
        # A worker forked while the raylet moved may have missed the move: check once more.
        for pid in descendants(raylet):
            if pid not in cgroup.pids():
                cgroup.add(pid)

    def kill_node(self, role: str) -> None:
        """Kill a node's raylet (SIGKILL), as a crashed or preempted machine loses it."""
        self.nodes[role].kill_raylet()

    def wait_node_dead(self, role: str, timeout: float = 30.0) -> None:
        from ray.util.state import get_node

        node_id = self.node_ids[role]

        def dead() -> bool:
            record = get_node(node_id, address=self.dashboard_url, timeout=5)
            return record is not None and record.state == "DEAD"

        wait_until(dead, timeout, f"Ray to record node {role} as dead")

    def stop(self) -> None:
        """Stop every process of this cluster and remove its temp dir (idempotent)."""
        with contextlib.suppress(Exception):
            self.cluster.shutdown()
        _kill_stragglers(str(self.temp_dir))
        deadline = time.monotonic() + 10
        while self.cgroup is not None and self.cgroup.pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
