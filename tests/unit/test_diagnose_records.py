"""Ray's state API records mapped to observations, as Ray 2.60 returns them (no cluster).

Contacting the cluster (addresses, environment, deadlines, probes) is
``rayobs._cluster``'s: see test_cluster.py.
"""

from __future__ import annotations

from rayobs.diagnose import Category, Confidence, classify
from rayobs.diagnose._observation import merge
from rayobs.diagnose._records import (
    actor_observation,
    node_death_observations,
    task_observation,
    worker_observation,
)

WID = "ac8afe99a8df06c91998f816aad943981f48452eacd721bff909e118"
NODE = "0485cd116aacbf2ae318fba64e83f6eb2e8673d61566234d34673126"
# Records as ray.util.state returned them on Ray 2.60 (trimmed).
LOST_WORKER = {
    "worker_id": WID,
    "pid": 19848,
    "exit_type": "SYSTEM_ERROR",
    "exit_detail": "Worker unexpectedly exits with a connection error code 2. End of file.",
    "worker_type": "WORKER",
    "end_time_ms": 1795450664000,
    "node_id": NODE,
}
FAILED_TASK = {
    "task_id": "c8ef45ccd0112571ffffffffffffffffffffffff01000000",
    "name": "sigkill_self",
    "error_type": "WORKER_DIED",
    "error_message": "RpcError: RPC error: Socket closed rpc_code: 14",
    "worker_id": WID,
    "worker_pid": None,
    "node_id": NODE,
    "end_time_ms": 1795450664100,
}
OOM_TASK = {
    **FAILED_TASK,
    "name": "hog_oom",
    "error_type": "OUT_OF_MEMORY",
    "error_message": "1 worker(s) were killed due to the node running low on memory.",
}
KILLED_ACTOR = {
    "actor_id": "cc908c2ddf88859be55d08b201000000",
    "class_name": "Victim",
    "name": "victim",
    "pid": 20038,
    "node_id": NODE,
    "death_cause": {
        "actor_died_error_context": {
            "error_message": "The actor is dead because it was killed by `ray.kill`.",
            "reason": "RAY_KILL",
        }
    },
}
INIT_FAILED_ACTOR = {
    "actor_id": "3c9ac5bca0835dae72b4923002000000",
    "class_name": "BadInit",
    "name": "",
    "pid": 6561,
    "node_id": NODE,
    "death_cause": {
        "creation_task_failure_context": {
            "formatted_exception_string": 'Traceback (most recent call last):\n  File "x.py", line '
            '25, in __init__\n    raise ValueError("boom in init")\nValueError: boom in init',
        }
    },
}
COLLECTED_ACTOR = {
    **KILLED_ACTOR,
    "death_cause": {"actor_died_error_context": {"reason": "OUT_OF_SCOPE", "error_message": "x"}},
}


def _verdict(*records: dict[str, object], kinds: str = "wta") -> tuple[Category, Confidence, str]:
    makers = {"w": worker_observation, "t": task_observation, "a": actor_observation}
    observations = [makers[k](r) for k, r in zip(kinds, records, strict=True)]
    (item,) = merge(o for o in observations if o is not None)
    verdict = classify(None, item.findings, pid=item.pid, worker_id=item.worker_id)
    return verdict.category, verdict.confidence, item.name or ""


def test_a_vanished_worker_and_its_task() -> None:
    assert _verdict(LOST_WORKER, FAILED_TASK, kinds="wt") == (
        Category.KILLED,
        Confidence.AMBIGUOUS,
        "sigkill_self",
    )


def test_an_oom_task_decides_for_its_worker() -> None:
    assert _verdict(LOST_WORKER, OOM_TASK, kinds="wt") == (
        Category.OOM_KILLED,
        Confidence.CERTAIN,
        "hog_oom",
    )


def test_actor_death_causes() -> None:
    assert _verdict(KILLED_ACTOR, kinds="a") == (
        Category.KILLED,
        Confidence.CERTAIN,
        "Victim (victim)",
    )
    category, confidence, name = _verdict(INIT_FAILED_ACTOR, kinds="a")
    assert (category, confidence, name) == (Category.ERROR, Confidence.CERTAIN, "BadInit")
    collected = actor_observation(COLLECTED_ACTOR)
    assert collected is not None and collected.routine


SIGTERM_WORKER = {  # a task's worker sent SIGTERM while it ran (Ray 2.60)
    **LOST_WORKER,
    "exit_detail": "The leased worker has unrecoverable failure. Worker is requested to be "
    "destroyed when it is returned. Worker exits with an exit code 1. The process receives a "
    "SIGTERM.",
}
SIGTERM_TASK = {
    **FAILED_TASK,
    "name": "sleeper",
    "worker_pid": 19848,
    "error_message": "UnexpectedSystemExit: Worker exits with an exit code 1. The process "
    "receives a SIGTERM.",
}
DRAINED = "2b897d984786cf8ff21be0f7bcf8f45a43740aae4df20e7260011966"
# A two-node cluster whose second node was drained with reason PREEMPTION, then removed.
PREEMPTED_ACTOR = {
    "actor_id": "abb934867e332482b2770caa01000000",
    "class_name": "A",
    "name": "actor_on_drained",
    "pid": 25227,
    "node_id": DRAINED,
    "death_cause": {
        "actor_died_error_context": {
            "error_message": f"The actor died because its node has died. Node Id: {DRAINED}\n"
            "\tthe actor's node was preempted: spot instance reclaimed",
            "node_death_info": {
                "reason": "AUTOSCALER_DRAIN_PREEMPTED",
                "reason_message": "spot instance reclaimed",
            },
            "reason": "NODE_DIED",
        }
    },
}
NODE_DIED_TASK = {
    "task_id": "c2a0ad3e1bd2fe2affffffffffffffffffffffff01000000",
    "name": "task_on_drained",
    "error_type": "NODE_DIED",
    "error_message": "Task failed because the node it was running on is dead or unavailable. "
    f"Node IP: 127.0.0.1, node ID: {DRAINED}. This can happen if the node was preempted, had a "
    "hardware failure, or its raylet crashed unexpectedly.",
    "worker_id": "5d1e0b6f1c0c4e9a8c0f3a8e7d2b1c4f5e6a7b8c9d0e1f2a3b4c5d6e",
    "worker_pid": 25255,
    "node_id": DRAINED,
    "end_time_ms": 1796297899000,
}
DEAD_NODE = {
    "node_id": DRAINED,
    "state": "DEAD",
    "state_message": "Terminated due to preemption: spot instance reclaimed",
}


def test_a_sigterm_worker_and_its_task() -> None:
    (item,) = merge([worker_observation(SIGTERM_WORKER), task_observation(SIGTERM_TASK)])
    verdict = classify(None, item.findings, pid=item.pid, worker_id=item.worker_id)
    assert (verdict.category, verdict.confidence) == (Category.TERMINATED, Confidence.CERTAIN)
    assert (verdict.code, verdict.signal, item.name) == (1, "SIGTERM", "sleeper")


def test_an_actor_on_a_preempted_node() -> None:
    actor = actor_observation(PREEMPTED_ACTOR)
    assert actor is not None and not actor.routine  # Ray's state API lists no worker for it
    verdict = classify(None, actor.findings, pid=actor.pid)
    assert (verdict.category, verdict.confidence) == (Category.TERMINATED, Confidence.CERTAIN)
    assert verdict.summary.startswith("its node was preempted (spot instance reclaimed)")
    assert "the actor's node was preempted" in verdict.evidence[0].line


def test_a_task_on_a_dead_node_gets_the_nodes_reason() -> None:
    task = task_observation(NODE_DIED_TASK)
    other = {**DEAD_NODE, "node_id": NODE}  # another dead node: not evidence for this task
    extra = list(node_death_observations([task], [other, DEAD_NODE]))
    (item,) = merge([task, *extra])
    assert not item.routine and item.ended
    verdict = classify(None, item.findings, pid=item.pid, worker_id=item.worker_id)
    assert (verdict.category, verdict.confidence) == (Category.TERMINATED, Confidence.CERTAIN)
    assert verdict.summary.startswith("its node was preempted (spot instance reclaimed)")
    assert verdict.evidence[0].source == f"state-api node {DRAINED}"
    # Without the node's record Ray's words leave it open.
    alone = classify(None, task.findings, pid=task.pid, worker_id=task.worker_id)
    assert (alone.category, alone.confidence) == (Category.KILLED, Confidence.AMBIGUOUS)
    assert list(node_death_observations([task], [other])) == []


def test_drivers_that_end_are_not_deaths() -> None:
    driver = {**LOST_WORKER, "worker_type": "DRIVER", "exit_type": "INTENDED_USER_EXIT"}
    assert worker_observation(driver).routine
    assert not worker_observation({**driver, "exit_type": "SYSTEM_ERROR"}).routine
