"""Real deaths on a real three-node cluster, diagnosed live and post-mortem.

One driver subprocess provokes every death on its node of ``multinode_cluster``
(the kernel OOM-kills a worker of the memory-limited node, Ray's memory
monitor kills one on the ``monitor`` node, a segfault and a SIGTERM on the
limited node), then the limited node's raylet is killed with a detached actor
on it. Only the hog runs on the ``monitor`` node: its threshold follows the
machine's memory use at start, which other processes move.

A real Prometheus scrapes every node from before the first death, finding them
through the file-SD file Ray's head writes, and evaluates the shipped alert
rules every second. Before the deaths the driver runs an instrumented task a
known number of times on each node; what Prometheus holds after them (targets,
the calls per node, the alerts, the dashboards' per-node panels) is read once,
before the limited node is killed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests import requires
from tests.harness import HEAD_FIXED_PORTS, Prometheus, alert_rule_file, http_get, wait_until
from tests.harness import diagnose_json as diagnose
from tests.multinode import ROLES, MultiNodeCluster

pytestmark = [pytest.mark.ray, pytest.mark.prometheus]

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


SD_FILE = "prom_metrics_service_discovery.json"  # in the head's session directory
# The driver's instrumented task, per node: (calls, of which fail); a different pair per
# node, so a mix-up shows.
PROBES = {"head": (3, 1), "limited": (4, 2), "monitor": (5, 0)}


def _endpoints(cluster: MultiNodeCluster) -> dict[str, str]:
    """role -> the metrics endpoint of each node this module uses (all on 127.0.0.1 here)."""
    return {role: f"127.0.0.1:{cluster.nodes[role].metrics_export_port}" for role in ROLES}


def _alive_endpoints(cluster: MultiNodeCluster) -> set[str]:
    """The metrics endpoints of every node Ray reports alive (another module may add nodes)."""
    from ray.util.state import get_node

    def alive(role: str) -> bool:
        record = get_node(cluster.node_ids[role], address=cluster.dashboard_url, timeout=5)
        return record is not None and record.state == "ALIVE"

    return {f"127.0.0.1:{n.metrics_export_port}" for r, n in cluster.nodes.items() if alive(r)}


@pytest.fixture(scope="module")
def prometheus_nodes(
    multinode_cluster: MultiNodeCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Prometheus, list[str]]]:
    """A real Prometheus on Ray's file-SD file and the shipped alert rules, scraping every node.

    Yields the server and the targets Ray's file listed when it started.
    """
    binary = requires.program("prometheus", requires.DEBIAN_PROMETHEUS)
    cluster = multinode_cluster
    sd_file = cluster.session_dir / SD_FILE
    nodes = set(_endpoints(cluster).values())

    def listed() -> list[str] | None:
        try:
            targets: list[str] = json.loads(sd_file.read_text())[0]["targets"]
        except (OSError, ValueError, LookupError):
            return None
        return targets if nodes <= set(targets) else None

    # the head rewrites the file every 5 s as nodes register
    in_file = wait_until(listed, 30, f"Ray's {SD_FILE} to list every node")
    rules = alert_rule_file(tmp_path_factory.mktemp("rules"))
    server = Prometheus.start(
        [], rule_files=[rules], binary=binary, target_files=[sd_file], exclude=HEAD_FIXED_PORTS
    )
    try:

        def scraping() -> bool:
            active = server.api("targets")["activeTargets"]
            up = {t["labels"]["instance"] for t in active if t["health"] == "up"}
            return up >= nodes

        wait_until(scraping, 30, "Prometheus to scrape every node")
        yield server, in_file
    finally:
        server.stop()


@pytest.fixture(scope="module")
def driver_run(
    multinode_cluster: MultiNodeCluster,
    prometheus_nodes: tuple[Prometheus, list[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The probes, then every scenario but the node's death, once; Prometheus already scrapes."""
    cluster = multinode_cluster
    scratch = tmp_path_factory.mktemp("multinode")
    env = dict(cluster.env, RAYOBS_SCRATCH=str(scratch))
    driver = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.integration._multinode_driver",
            cluster.address,
            TAG,
            json.dumps(PROBES),
        ],
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
    (probes_line,) = [line for line in driver.stdout.splitlines() if line.startswith("PROBES ")]
    probes: dict[str, dict[str, Any]] = json.loads(probes_line.removeprefix("PROBES "))
    assert "error" not in probes, f"{probes}\n{driver.stderr[-3000:]}"
    return seen, probes


@pytest.fixture(scope="module")
def provoked(
    driver_run: tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]],
) -> dict[str, dict[str, Any]]:
    """scenario -> the pid of the worker that died and what the driver saw."""
    return driver_run[0]


@pytest.fixture(scope="module")
def probes(
    driver_run: tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]],
) -> dict[str, dict[str, Any]]:
    """role -> the instrumented probe's calls and errors there, as the driver counted them."""
    return driver_run[1]


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


def _death_counts(endpoint: str) -> dict[str, float]:
    """Sums of Ray's death counters on one node's metrics endpoint, read directly."""
    found: dict[str, float] = {}
    for line in http_get(f"http://{endpoint}/metrics").splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in (UNEXPECTED, EVICTED):
            found[name] = found.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return found


@pytest.fixture(scope="module")
def node_metrics(
    multinode_cluster: MultiNodeCluster, provoked: dict[str, dict[str, Any]]
) -> dict[str, dict[str, float]]:
    """Sums of Ray's death counters on the limited and monitor nodes' metrics endpoints."""
    node = _endpoints(multinode_cluster)

    def both() -> dict[str, dict[str, float]] | None:
        seen = {role: _death_counts(node[role]) for role in ("limited", "monitor")}
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


# ---- what Prometheus holds: every node found through Ray's file, read before a node dies ----

PROBE = f"node_probe_{TAG}"  # the driver's instrumented task
KERNEL_OOM = f"rayobs_kernel_oom_{TAG}"  # Name of the task the kernel OOM-killed
MONITOR_KILL = f"rayobs_memory_monitor_{TAG}"  # Name of the task Ray's memory monitor killed
CALLS = "ray_rayobs_calls_total"
# Ray's Name for a worker without a task. The monitor node's threshold follows the machine's
# memory use at its start, which other processes move: its memory monitor may also evict an
# idle worker there (seen in one run), besides the hog.
IDLE = "Idle Worker"
WORKER_ALERTS = ("RayWorkerOOMKilled", "RayWorkerDiedUnexpectedly")


def _per_node_panels(server: Prometheus) -> dict[tuple[str, str], dict[str, float]]:
    """(panel, legend) -> {instance: value} for every shipped panel that groups by instance.

    The variables are substituted as Grafana would with All selected, except the
    task name, set to the probe's (as picking it in the dashboard does).
    """
    requires.module("grafana_foundation_sdk", "grafana")
    from rayobs.dashboards import _export, _promql, _read

    values = {"__rate_interval": "1m", "__range": "10m", "__interval": "15s"}
    found: dict[tuple[str, str], dict[str, float]] = {}
    for rendered in _export.render_all(_export.shipped()):
        view = _read.read(rendered.data)
        variables = {v.name: v.all_value or ".*" for v in view.variables if v.type == "query"}
        substitutions = {**variables, **values, "name": PROBE}
        for panel, target in view.queries():
            if "by (instance)" in target.expr:
                expr = _promql.substitute(target.expr, substitutions)
                found[(panel.title, target.legend)] = server.values(expr, "instance")
    return found


def _snapshot(server: Prometheus, endpoints: list[str]) -> dict[str, Any]:
    """Targets, calls, death counters, alerts and per-node panels, as Prometheus has them now.

    The counts by ``Name`` are those of the nodes at ``endpoints`` (another module
    may add nodes); ``direct``: the death counters as those nodes serve them.
    """
    targets = server.api("targets")
    ours = f'{{instance=~"{"|".join(endpoints)}"}}'  # every address is 127.0.0.1:PORT
    alerts = [
        {
            "alert": a["labels"]["alertname"],
            "Name": a["labels"].get("Name", ""),
            "instance": a["labels"].get("instance", ""),
            "state": a["state"],
            "value": float(a["value"]),
            "description": a["annotations"]["description"],
        }
        for a in server.api("alerts")["alerts"]
        if a["labels"]["alertname"] in WORKER_ALERTS
    ]
    return {
        "active": targets["activeTargets"],
        "dropped": targets["droppedTargets"],
        "calls": server.values(f'sum by (instance) ({CALLS}{{name="{PROBE}"}})', "instance"),
        "errors": server.values(
            f'sum by (instance) ({CALLS}{{name="{PROBE}", outcome="error"}})', "instance"
        ),
        "unexpected": server.values(f"sum by (instance) ({UNEXPECTED})", "instance"),
        "evicted": server.values(f"sum by (instance) ({EVICTED})", "instance"),
        "unexpected_by_name": server.values(f"sum by (Name) ({UNEXPECTED}{ours})", "Name"),
        "evicted_by_name": server.values(f"sum by (Name) ({EVICTED}{ours})", "Name"),
        "increase_by_name": server.values(
            f"sum by (Name) (increase({UNEXPECTED}{ours}[10m]))", "Name"
        ),
        "alerts": sorted(alerts, key=lambda a: (a["alert"], a["Name"])),
        "panels": _per_node_panels(server),
        "direct": {endpoint: _death_counts(endpoint) for endpoint in endpoints},
    }


@pytest.fixture(scope="module")
def scraped(
    multinode_cluster: MultiNodeCluster,
    prometheus_nodes: tuple[Prometheus, list[str]],
    probes: dict[str, dict[str, Any]],
    node_metrics: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """What Prometheus holds once it has caught up with the nodes (at most 45 s of waiting).

    Caught up: the probe's calls per node are what the driver made, the death
    counters per node what the nodes' endpoints said, and both worker alerts
    have been evaluated on them. If it never catches up, the last snapshot is
    returned and the tests below show what differs.
    """
    server, _ = prometheus_nodes
    node = _endpoints(multinode_cluster)
    calls = {node[role]: float(item["calls"]) for role, item in probes.items() if role in node}
    deaths = {
        node[role]: counts[UNEXPECTED]
        for role, counts in node_metrics.items()
        if UNEXPECTED in counts
    }
    ours = set(node.values())  # nodes another module added may have deaths of their own
    started = time.monotonic()
    while True:
        snapshot = _snapshot(server, list(node.values()))
        fired = {a["alert"] for a in snapshot["alerts"]}
        if (
            snapshot["calls"] == calls
            and {k: v for k, v in snapshot["unexpected"].items() if v and k in ours} == deaths
            and fired >= set(WORKER_ALERTS)
        ) or time.monotonic() - started > 45:
            break
        time.sleep(1.0)
    waited = time.monotonic() - started
    time.sleep(2.0)  # two more rule evaluations on the same data: nothing may change
    snapshot = _snapshot(server, list(node.values()))
    shown = {k: v for k, v in snapshot.items() if k not in ("active", "dropped", "alerts")}
    fired = [(a["alert"], a["Name"], a["instance"], a["state"]) for a in snapshot["alerts"]]
    print(f"\nPrometheus caught up after {waited:.1f} s: {shown}\nalerts: {fired}")
    return snapshot


def test_prometheus_finds_every_node_through_rays_file(
    scraped: dict[str, Any],
    prometheus_nodes: tuple[Prometheus, list[str]],
    multinode_cluster: MultiNodeCluster,
) -> None:
    """Exactly the nodes' metrics endpoints are scraped, on 127.0.0.1, found in Ray's file."""
    _, in_file = prometheus_nodes
    nodes = _alive_endpoints(multinode_cluster)
    assert nodes >= set(_endpoints(multinode_cluster).values())
    active = scraped["active"]
    assert {t["labels"]["instance"] for t in active} == nodes, active
    assert all(t["health"] == "up" for t in active), active
    for target in active:
        assert target["discoveredLabels"]["__address__"].startswith("127.0.0.1:"), target
        assert target["scrapeUrl"].startswith("http://127.0.0.1:"), target
        assert target["discoveredLabels"]["__meta_filepath"].endswith(SD_FILE), target
    # Ray's file lists the nodes and the head's fixed-port services, nothing else; the
    # latter are dropped (another cluster on this machine may hold those ports).
    assert set(in_file) - nodes <= set(HEAD_FIXED_PORTS), in_file
    dropped = {t["discoveredLabels"]["__address__"] for t in scraped["dropped"]}
    assert dropped == set(in_file) - nodes, scraped["dropped"]


def test_instrumented_calls_per_node_arrive_exactly(
    scraped: dict[str, Any], probes: dict[str, dict[str, Any]], multinode_cluster: MultiNodeCluster
) -> None:
    node = _endpoints(multinode_cluster)
    assert {role: (p["calls"], p["errors"]) for role, p in probes.items()} == PROBES, probes
    # the driver found each node's agent where Ray's file and this test say, with the counts
    assert {role: p["endpoint"] for role, p in probes.items()} == node, probes
    assert {role: p["agent"] for role, p in probes.items()} == {
        role: [float(calls), float(failing)] for role, (calls, failing) in PROBES.items()
    }, probes
    assert scraped["calls"] == {node[r]: float(calls) for r, (calls, _) in PROBES.items()}, scraped
    errors = {node[r]: float(failing) for r, (_, failing) in PROBES.items() if failing}
    assert scraped["errors"] == errors, scraped


def test_which_alerts_fire_on_which_death(
    scraped: dict[str, Any], multinode_cluster: MultiNodeCluster
) -> None:
    """A kernel OOM kill fires RayWorkerDiedUnexpectedly, never RayWorkerOOMKilled.

    RayWorkerOOMKilled fires on the memory monitor's kill only; segfault and
    SIGTERM are unexpected deaths too. Both rules have no ``for``: they fire at
    the first evaluation that sees the death, naming the node (instance).
    """
    node = _endpoints(multinode_cluster)
    ours = set(node.values())  # nodes another module added may have deaths of their own
    seen = {
        (a["alert"], a["Name"]): (a["state"], a["value"], a["instance"])
        for a in scraped["alerts"]
        if a["instance"] in ours
    }
    unexpected, oom = "RayWorkerDiedUnexpectedly", "RayWorkerOOMKilled"
    idle = seen.pop((oom, IDLE), None)  # an idle worker the monitor also evicted, if any
    assert seen == {
        (unexpected, KERNEL_OOM): ("firing", 1.0, node["limited"]),
        (unexpected, f"rayobs_segfault_{TAG}"): ("firing", 1.0, node["limited"]),
        (unexpected, f"rayobs_sigterm_{TAG}"): ("firing", 1.0, node["limited"]),
        (oom, MONITOR_KILL): ("firing", 1.0, node["monitor"]),
    }, scraped["alerts"]
    assert idle is None or idle[::2] == ("firing", node["monitor"]), idle
    for alert in scraped["alerts"]:  # no pod here: the description names the node's endpoint
        assert f"node {alert['instance']}" in alert["description"], alert


def test_increase_alone_misses_a_death_counter_born_at_one(scraped: dict[str, Any]) -> None:
    """Ray creates the counter at the first death, at 1: increase() sees no change in it.

    The alert above fired all the same: its expression also counts series that
    were absent a window ago (``new_or_increased`` in rayobs.k8s).
    """
    assert scraped["unexpected_by_name"][KERNEL_OOM] == 1.0, scraped
    assert scraped["increase_by_name"].get(KERNEL_OOM, 0.0) == 0.0, scraped
    assert scraped["evicted_by_name"][MONITOR_KILL] == 1.0, scraped
    assert set(scraped["evicted_by_name"]) <= {MONITOR_KILL, IDLE}, scraped


def test_per_node_panels_on_the_incident_data(
    scraped: dict[str, Any],
    provoked: dict[str, dict[str, Any]],
    multinode_cluster: MultiNodeCluster,
) -> None:
    """The dashboards' panels by instance show each node's own numbers.

    The death counters are compared with what each node's endpoint served at the
    same moment, and with the deaths the driver provoked there.
    """
    node = _endpoints(multinode_cluster)
    direct = scraped["direct"]
    # only this module's nodes: another module may add nodes with deaths of their own
    panels = {
        key: {e: v for e, v in by_node.items() if e in direct}
        for key, by_node in scraped["panels"].items()
    }
    unexpected = ("Unexpected worker failures by node", "{{instance}}")
    oom = ("OOM kills by node", "{{instance}}")
    calls, errors = ("Calls per node", "calls"), ("Calls per node", "errors")
    assert set(panels) == {unexpected, oom, calls, errors}, panels
    assert panels[calls] == {node[r]: float(c) for r, (c, _) in PROBES.items()}, panels
    assert panels[errors] == {node[r]: float(f) for r, (_, f) in PROBES.items()}, panels
    for panel, counter in ((unexpected, UNEXPECTED), (oom, EVICTED)):
        served = {e: counts[counter] for e, counts in direct.items() if counts.get(counter)}
        assert panels[panel] == served, (panel, panels[panel], direct)
    on_limited = [k for k, v in provoked.items() if v["node"] == "limited" and k != "node_death"]
    assert panels[unexpected] == {node["limited"]: float(len(on_limited))}, panels
    evicted = scraped["evicted_by_name"]  # the hog, and an idle worker in some runs
    assert panels[oom] == {node["monitor"]: sum(evicted.values())}, (panels, evicted)


@pytest.fixture(scope="module")
def node_died(
    multinode_cluster: MultiNodeCluster,
    live: dict[str, Any],
    node_metrics: dict[str, dict[str, float]],
    scraped: dict[str, Any],
) -> dict[str, Any]:
    """Kill the ``limited`` node's raylet (after ``live`` read its logs, and Prometheus was
    read); diagnose again."""
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


def test_a_dead_node_leaves_prometheus(
    node_died: dict[str, Any],
    prometheus_nodes: tuple[Prometheus, list[str]],
    multinode_cluster: MultiNodeCluster,
) -> None:
    """Ray's file drops the dead node, and so does Prometheus; what it scraped stays queryable."""
    server, _ = prometheus_nodes
    node = _endpoints(multinode_cluster)
    gone = node["limited"]
    started = time.monotonic()
    health: list[str] = []

    def dropped() -> bool:
        active = {
            t["labels"]["instance"]: t["health"] for t in server.api("targets")["activeTargets"]
        }
        health.append(active.get(gone, "-"))
        return gone not in active

    wait_until(dropped, 30, f"Prometheus to stop scraping {gone}", interval=0.5)
    print(f"\n{gone} dropped after {time.monotonic() - started:.1f} s; health seen: {health}")
    active = {t["labels"]["instance"] for t in server.api("targets")["activeTargets"]}
    assert active >= {node["head"], node["monitor"]}
    last = server.values(f"sum by (instance) (last_over_time({UNEXPECTED}[10m]))", "instance")
    assert last[gone] == 3.0, last


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
