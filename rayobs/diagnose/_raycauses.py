"""What the causes Ray names mean: a worker's node dying, Ray ending a worker on purpose.

The reference table for the classifier's first and third rules, as ``_exitcodes``
is for exit statuses. Keys of ``NODE_DEATHS`` are how ``_raymsgs.node_death``
says a node died.
"""

from __future__ import annotations

from rayobs.diagnose._meanings import Meaning
from rayobs.diagnose._verdict import Category, Confidence

_RETRIES = (
    "let the work survive losing a node: max_retries for tasks, max_restarts and "
    "max_task_retries for actors, checkpoints for long work"
)
_DEAD_NODES = (
    "`ray list nodes --filter state=DEAD --detail`: a dead node's state_message says why it "
    "died (preemption, SIGTERM, a failed health check)"
)
# How the node died -> (category, confidence, what happened, causes and next steps).
NODE_DEATHS: dict[str, tuple[Category, Confidence, str, Meaning]] = {
    "preempted": (
        Category.TERMINATED,
        Confidence.CERTAIN,
        "its node was preempted",
        Meaning(
            "",
            (
                "the cloud provider reclaimed a spot or preemptible instance",
                "the autoscaler or `ray drain-node` drained the node with reason PREEMPTION",
                "the node's `ray start` got SIGTERM and drained itself first "
                "(RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S > 0), as when Kubernetes deletes the pod",
            ),
            (
                _RETRIES,
                "Kubernetes: `kubectl get events` for the pod and its node (Preempting, "
                "NodeNotReady, Killing); the cloud's spot-interruption notices",
            ),
        ),
    ),
    "terminated": (
        Category.TERMINATED,
        Confidence.CERTAIN,
        "its node was shut down on purpose",
        Meaning(
            "",
            (
                "the node's Ray processes were stopped: SIGTERM to `ray start` (a pod deleted, "
                "a rollout, a scale-down), `ray stop`",
            ),
            (
                "find who stopped the node: its pod's Kubernetes events, the autoscaler's "
                "monitor.log",
                _RETRIES,
            ),
        ),
    ),
    "idle": (
        Category.TERMINATED,
        Confidence.CERTAIN,
        "its node was removed by the autoscaler as idle",
        Meaning("", ("the autoscaler terminated a node it considered idle",), (_RETRIES,)),
    ),
    "unexpected": (
        Category.KILLED,
        Confidence.CERTAIN,
        "its node died unexpectedly",
        Meaning(
            "",
            (
                "the raylet crashed or was killed (the kernel OOM killer, SIGKILL)",
                "the machine or its network went away: the GCS stopped hearing from the raylet",
            ),
            (
                "read the dead node's raylet.out and kernel log (`dmesg -T`), if it is reachable",
                _DEAD_NODES,
                _RETRIES,
            ),
        ),
    ),
    "unknown": (
        Category.KILLED,
        Confidence.AMBIGUOUS,
        "the node it ran on died, and Ray's record of it does not say why",
        Meaning(
            "",
            (
                "the node was preempted or shut down",
                "the raylet crashed, or the machine or its network failed",
            ),
            (_DEAD_NODES, _RETRIES),
        ),
    ),
}


RAY_LIFECYCLE = Meaning(
    "",
    ("Ray's own lifecycle (owner died, job ended, idle worker, resources released)",),
    ("expected unless the reason is: an owner that died has a death of its own to diagnose",),
)
