"""Real deaths on a real three-node cluster, diagnosed live and post-mortem.

One driver subprocess provokes every death on its node of ``multinode_cluster``
(the kernel OOM-kills a worker of the memory-limited node, Ray's memory
monitor kills one on the ``monitor`` node, a segfault and a SIGTERM on the
limited node), then the limited node's raylet is killed with a detached actor
on it. Only the hog runs on the ``monitor`` node: its threshold follows the
machine's memory use at start, which other processes move.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from typing import Any

import pytest

from tests.harness import diagnose_json as diagnose
from tests.harness import http_get, wait_until
from tests.multinode import MultiNodeCluster

pytestmark = pytest.mark.ray

TAG = uuid.uuid4().hex[:8]

# scenario -> (category, confidence), observed on Ray 2.60; the docs table quotes these.
LIVE = {
    "kernel_oom": ("oom_killed", "certain"),
    "memory_monitor": ("oom_killed", "certain"),
    "segfault": ("segfault", "certain"),
    "sigterm": ("terminated", "certain"),
}
POST_MORTEM = {
    "kernel_oom": ("oom_killed", "certain"),
    "memory_monitor": ("oom_killed", "certain"),
    "segfault": ("segfault", "certain"),
    "sigterm": ("terminated", "certain"),
    "node_death": ("killed", "certain"),
}


@pytest.fixture(scope="module")
def provoked(
    multinode_cluster: MultiNodeCluster, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """Every scenario but the node's death, once."""
    cluster = multinode_cluster
    scratch = tmp_path_factory.mktemp("multinode")
    env = dict(cluster.env, RAYOBS_SCRATCH=str(scratch))
    driver = subprocess.run(
        [sys.executable, "-m", "tests.integration._multinode_driver", cluster.address, TAG],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert driver.returncode == 0, driver.stdout + driver.stderr[-3000:]
    result = [line for line in driver.stdout.splitlines() if line.startswith("RESULT ")]
    assert result, driver.stdout + driver.stderr[-3000:]
    seen: dict[str, dict[str, Any]] = json.loads(result[-1].removeprefix("RESULT "))
    failed = {k: v["outcome"] for k, v in seen.items() if v["pid"] is None}
    assert not failed, f"{failed}\n{driver.stderr[-3000:]}"
    return seen


def _by_pid(document: dict[str, Any], seen: dict[str, dict[str, Any]]) -> dict[str, Any]:
    pids = {d["pid"]: d for d in document["deaths"]}
    return {scenario: pids.get(item["pid"]) for scenario, item in seen.items()}


@pytest.fixture(scope="module")
def live(
    multinode_cluster: MultiNodeCluster, provoked: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """``rayobs diagnose --address``: the state API and what the nodes themselves hold."""
    cluster = multinode_cluster
    return diagnose("--address", cluster.address, env=cluster.env)


# Ray's own counters of worker deaths, per node (Ray 2.60 names).
UNEXPECTED = "ray_node_manager_unexpected_worker_failure_total"
EVICTED = "ray_memory_manager_worker_eviction_total"


@pytest.fixture(scope="module")
def node_metrics(
    multinode_cluster: MultiNodeCluster, provoked: dict[str, dict[str, Any]]
) -> dict[str, dict[str, float]]:
    """Sums of Ray's death counters on the limited and monitor nodes' metrics endpoints."""
    cluster = multinode_cluster

    def sums(role: str) -> dict[str, float]:
        port = cluster.nodes[role].metrics_export_port
        text = http_get(f"http://127.0.0.1:{port}/metrics")
        found: dict[str, float] = {}
        for line in text.splitlines():
            name = line.split("{", 1)[0].split(" ", 1)[0]
            if name in (UNEXPECTED, EVICTED):
                found[name] = found.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
        return found

    def both() -> dict[str, dict[str, float]] | None:
        seen = {role: sums(role) for role in ("limited", "monitor")}
        ready = seen["limited"].get(UNEXPECTED) and seen["monitor"].get(EVICTED)
        return seen if ready else None

    result: dict[str, dict[str, float]] = wait_until(both, 30, "Ray's death counters")
    return result


def test_which_ray_metric_moves_on_a_kernel_oom_kill(
    node_metrics: dict[str, dict[str, float]],
) -> None:
    """The kernel's kill is an unexpected worker failure to Ray, never a memory-monitor eviction."""
    assert node_metrics["limited"][UNEXPECTED] >= 1, node_metrics
    assert node_metrics["limited"].get(EVICTED, 0.0) == 0.0, node_metrics
    assert node_metrics["monitor"][EVICTED] >= 1, node_metrics


@pytest.fixture(scope="module")
def node_died(
    multinode_cluster: MultiNodeCluster,
    live: dict[str, Any],
    node_metrics: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """Kill the ``limited`` node's raylet (after ``live`` read its logs); diagnose again."""
    cluster = multinode_cluster
    cluster.kill_node("limited")
    cluster.wait_node_dead("limited")
    return diagnose("--address", cluster.address, env=cluster.env)


@pytest.fixture(scope="module")
def post_mortem(
    multinode_cluster: MultiNodeCluster,
    node_died: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """``rayobs diagnose --session-dir`` on a copy of the session's logs."""
    copy = tmp_path_factory.mktemp("post-mortem") / "session-copy"
    shutil.copytree(multinode_cluster.session_dir / "logs", copy / "logs", symlinks=True)
    return diagnose("--session-dir", str(copy))


def test_what_the_driver_saw(provoked: dict[str, dict[str, Any]]) -> None:
    assert provoked["kernel_oom"]["outcome"] == "WorkerCrashedError", provoked
    assert provoked["memory_monitor"]["outcome"] == "OutOfMemoryError", provoked
    assert provoked["segfault"]["outcome"] == "WorkerCrashedError", provoked
    assert provoked["sigterm"]["outcome"] == "WorkerCrashedError", provoked


def test_the_kernel_killed_inside_the_cgroup(multinode_cluster: MultiNodeCluster) -> None:
    cgroup = multinode_cluster.cgroup
    assert cgroup is not None and cgroup.oom_kills() >= 1


@pytest.mark.parametrize("scenario", list(LIVE))
def test_live_verdicts(
    live: dict[str, Any], provoked: dict[str, dict[str, Any]], scenario: str
) -> None:
    death = _by_pid(live, provoked)[scenario]
    assert death is not None, (scenario, live)
    assert (death["category"], death["confidence"]) == LIVE[scenario], death


@pytest.mark.parametrize("scenario", list(POST_MORTEM))
def test_post_mortem_verdicts(
    post_mortem: dict[str, Any], provoked: dict[str, dict[str, Any]], scenario: str
) -> None:
    death = _by_pid(post_mortem, provoked)[scenario]
    assert death is not None, (scenario, post_mortem)
    assert (death["category"], death["confidence"]) == POST_MORTEM[scenario], death
    assert all(not e["source"].startswith("state-api") for e in death["evidence"])


def test_a_dead_node(
    node_died: dict[str, Any],
    multinode_cluster: MultiNodeCluster,
    provoked: dict[str, dict[str, Any]],
) -> None:
    """The actor on the killed node is a death of its node; the earlier deaths stay explained."""
    found = _by_pid(node_died, provoked)
    death = found["node_death"]
    assert death is not None, node_died
    assert (death["category"], death["confidence"]) == ("killed", "certain"), death
    assert "its node died" in death["summary"], death
    assert found["sigterm"] is not None, node_died
    assert (found["sigterm"]["category"], found["sigterm"]["confidence"]) == LIVE["sigterm"]
    # Its node's kernel log and cgroup went with it: the state API alone cannot tell.
    oom = found["kernel_oom"]
    assert (oom["category"], oom["confidence"]) == ("killed", "ambiguous"), oom
    assert any("no evidence (the node is dead)" in s for s in node_died["sources"]), node_died
    _check_dead_node(node_died, multinode_cluster, provoked)


def _check_dead_node(
    document: dict[str, Any], cluster: MultiNodeCluster, provoked: dict[str, dict[str, Any]]
) -> None:
    """The limited node is reported dead, unexpectedly, with the actor lost on it."""
    (node,) = [n for n in document["dead_nodes"] if n["node"] == cluster.node_ids["limited"]]
    assert node["how"].startswith("unexpected"), node
    assert provoked["node_death"]["pid"] in [lost["pid"] for lost in node["lost"]], node


def test_a_dead_node_post_mortem(
    post_mortem: dict[str, Any],
    multinode_cluster: MultiNodeCluster,
    provoked: dict[str, dict[str, Any]],
) -> None:
    _check_dead_node(post_mortem, multinode_cluster, provoked)


def test_the_kernel_oom_kill_live(
    live: dict[str, Any], provoked: dict[str, dict[str, Any]]
) -> None:
    """The kernel's line and the cgroup's counter, both read on the node, both quoted."""
    death = _by_pid(live, provoked)["kernel_oom"]
    lines = [e["line"] for e in death["evidence"]]
    pid = provoked["kernel_oom"]["pid"]
    assert any(f"Killed process {pid} (ray::" in line for line in lines), death
    assert any(line.startswith("oom_kill ") for line in lines), death
    assert death["exit_type"] == "SYSTEM_ERROR"


def test_the_kernel_oom_kill_post_mortem(
    post_mortem: dict[str, Any], provoked: dict[str, dict[str, Any]]
) -> None:
    """The setup hook's record of the cgroup counter rising names the worker that went."""
    death = _by_pid(post_mortem, provoked)["kernel_oom"]
    pid = provoked["kernel_oom"]["pid"]
    watch = [e for e in death["evidence"] if e["source"].startswith("rayobs-oom-")]
    assert watch and f"gone: {pid} (ray::" in watch[0]["line"], death
    assert "oom_kill 0 -> 1" in watch[0]["line"], death
