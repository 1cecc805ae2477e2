"""A dead node, how it died, and the workers that went with it."""

from __future__ import annotations

from pathlib import Path

from rayobs.diagnose import diagnose, diagnosis_to_dict, diagnosis_to_text
from rayobs.diagnose._nodedeaths import gcs_node_deaths, lost_workers, state_node_deaths
from rayobs.diagnose._observation import Observation, merge

NODE = "1b92d7a0088a9bc2d0f8d6ca78f135d6daa40d5ca6c704ca1b98f7fd"
OTHER = "bef7511e48fce2f7cdf8a3fbd03a43abdbaa74bac3aa692e27d0a45e"
DEATH = (
    "[2026-12-05 09:01:15,665 I 4158 4158] (gcs_server) gcs_node_manager.cc:734: , death "
    "reason = UNEXPECTED_TERMINATION, death message = health check failed due to missing too "
    f"many heartbeats node_id={NODE} node_name=127.0.0.1"
)


def test_the_gcs_line() -> None:
    (node,) = gcs_node_deaths([(339, 1000.0, DEATH)], "gcs_server.out")
    assert (node.node_id, node.time, node.evidence.source) == (NODE, 1000.0, "gcs_server.out:339")
    assert node.how == "unexpected: health check failed due to missing too many heartbeats"


def test_the_state_api_record() -> None:
    record = {
        "node_id": NODE,
        "state_message": "Terminated due to preemption: spot instance reclaimed",
        "end_time_ms": 1_000_000,
    }
    (node,) = state_node_deaths([record], "state-api")
    assert node.how == "preempted: spot instance reclaimed" and node.time == 1000.0


def test_workers_started_there_and_never_ended_were_lost() -> None:
    (node,) = gcs_node_deaths([(1, 1000.0, DEATH)], "gcs_server.out")
    alive_there = Observation(worker_id="aa" * 28, pid=11, node=NODE, ended=False)
    ended_there = Observation(worker_id="bb" * 28, pid=12, node=NODE, exit_type="SYSTEM_ERROR")
    elsewhere = Observation(worker_id="cc" * 28, pid=13, node=OTHER, ended=False)
    nodes, found = lost_workers([node], merge([alive_there, ended_there, elsewhere]))
    assert [(o.pid, o.ended, o.time) for o in found] == [(11, True, 1000.0)]
    assert nodes[0].lost == ((11, "aa" * 28, None),)


def test_post_mortem_reports_the_node_and_its_victim(tmp_path: Path) -> None:
    logs = tmp_path / "session" / "logs"
    logs.mkdir(parents=True)
    (logs / "gcs_server.out").write_text(DEATH + "\n")
    (logs / "raylet.1.out").write_text(
        f"[2026-12-05 09:00:00,000 I 1 1] (raylet) main.cc:1: Setting node ID node_id={NODE}\n"
        f"[2026-12-05 09:00:01,000 I 1 1] (raylet) worker_pool.cc:1: Started worker process "
        f"with pid 11668 worker_id={'dd' * 28}\n"
    )
    report = diagnose(session_dir=logs.parent)
    (death,) = report.deaths
    assert (death.pid, death.verdict.category.value, death.verdict.confidence.value) == (
        11668,
        "killed",
        "certain",
    )
    assert "its node died unexpectedly" in death.verdict.summary
    (node,) = diagnosis_to_dict(report)["dead_nodes"]
    assert node["lost"] == [{"pid": 11668, "worker_id": "dd" * 28, "name": None}]
    assert "lost with it: pid 11668" in diagnosis_to_text(report)
