"""Ray's own words: both generations of memory-monitor messages, crash traces, exit details.

The 2.60 lines below were printed by a real Ray 2.60 cluster (memory monitor
with a low RAY_memory_usage_threshold, and the scenarios of
tests/integration/test_diagnose_ray.py); the older wording is what Ray 2.x
releases before the multi-worker killing policy printed.
"""

# Log lines below are verbatim: their length is the kernel's and Ray's, not ours.
# ruff: noqa: E501

from __future__ import annotations

from pathlib import Path

import pytest

from rayobs.diagnose import (
    Category,
    Confidence,
    FindingKind,
    classify,
    explain_exit_code,
    verdict_to_dict,
)
from rayobs.diagnose._raymsgs import (
    crash_trace_finding,
    exception_line,
    exit_detail_findings,
    node_death,
    ray_log_findings,
)

WID = "fcce6153533e137723714be9c23f28639267b455549ca651532913be"
RAYLET_260 = f"""\
[2026-11-23 16:05:37,420 I 8079 8079] (raylet) worker_pool.cc:564: Started worker process with pid 8224 worker_id={WID}
[2026-11-23 16:05:41,655 I 8079 8117] (raylet) threshold_memory_monitor.cc:128: Node memory usage above threshold, used: 2746867712, threshold_bytes: 2729863168, total bytes: 25276510208, threshold fraction: 0.108000
[2026-11-23 16:05:41,717 I 8079 8079] (raylet) node_manager.cc:3199: Killing 1 worker(s), kill details: Memory on the node (IP: 127.0.0.1, ID: 357bc9a8ec23bad45d1d756771948a7577e50aeb18f6c9dc1e62d5e8) was 2.57GB used / 23.54GB limit (0.109325)
OOM kill reason: Memory usage 2746867712B exceeded threshold of 2729863168B (10.8% of 25276510208B limit)
Ray killed 1 worker(s) based on the killing policy
Considered workers: [
Selected to kill: (Task: job ID=01000000, lease ID=0000000001000000ffffffffffffffffffffffffffffffffffffffffffffffff, task name=hog_oom, required resources={{CPU: 1}}, pid=8224, actual memory used=0.92GB, worker ID={WID})
]
[2026-11-23 16:05:41,718 I 8079 8079] (raylet) node_manager.cc:124: DisconnectClient: sending SIGTERM to pgid=8224 worker_id={WID}
"""
TASK_ERROR_260 = (
    "1 worker(s) were killed due to the node running low on memory. Memory on the node (IP: "
    "127.0.0.1, ID: 357bc9a8ec23bad45d1d756771948a7577e50aeb18f6c9dc1e62d5e8) was 2.57GB used / "
    "23.54GB limit (0.109325)"
)
OLD_WORDING = (
    "Task was killed due to the node running low on memory.\n"
    "Memory on the node (IP: 10.0.62.231, ID: e5d953ef03e55e26f13973ea1b5a0fd0ecc729cd820bc89e4aa50451)"
    " where the task (task ID: 43534ce9375fa8e4cd0d0ec285d9974a6a95897401000000, name=allocate_memory,"
    " pid=11362, memory used=1.25GB) was running was 6.83GB / 7.44GB (0.917875), which exceeds the "
    "memory usage threshold of 0.9. Ray killed this worker (ID: "
    "6f2ec5c8b0d5f5a66572859faf192d36743536c2e9702ea58084b037) because it was the most recently "
    "scheduled task; to see more information about memory usage on this node, use `ray logs "
    "raylet.out -ip 10.0.62.231`."
)
K8S_PHRASE = "Worker exits with an exit code 1. The worker may have exceeded K8s pod memory limits."


def _findings(text: str) -> list[tuple[FindingKind, int | None, str | None]]:
    return [
        (f.kind, f.pid, f.worker_id)
        for n, line in enumerate(text.splitlines(), 1)
        for f in ray_log_findings(line, f"raylet.out:{n}")
    ]


def test_ray_260_memory_monitor_lines() -> None:
    assert _findings(RAYLET_260) == [
        (FindingKind.OOM_RAY, None, None),  # "Killing 1 worker(s), kill details: ..."
        (FindingKind.OOM_RAY, 8224, WID),  # "Selected to kill: (... pid=8224 ... worker ID=...)"
    ]
    assert _findings(TASK_ERROR_260) == [(FindingKind.OOM_RAY, None, None)]


def test_ray_older_wording() -> None:
    assert _findings(OLD_WORDING) == [
        (FindingKind.OOM_RAY, None, None),
        (FindingKind.OOM_RAY, 11362, "6f2ec5c8b0d5f5a66572859faf192d36743536c2e9702ea58084b037"),
    ]


def test_the_k8s_memory_phrase_alone_is_not_evidence() -> None:
    assert ray_log_findings(K8S_PHRASE, "worker.err:1") == []
    findings = exit_detail_findings("SYSTEM_ERROR", K8S_PHRASE, "state-api")
    assert [(f.kind, f.value) for f in findings] == [(FindingKind.EXIT_STATUS, 1)]
    verdict = classify(None, findings)
    assert (verdict.code, verdict.category) == (1, Category.ERROR)


@pytest.mark.parametrize(
    ("text", "pid", "confidence"),
    [
        (RAYLET_260, 8224, Confidence.CERTAIN),
        (RAYLET_260, None, Confidence.LIKELY),
        (OLD_WORDING, 11362, Confidence.CERTAIN),
        (OLD_WORDING, None, Confidence.LIKELY),
    ],
)
def test_ray_logs_turn_a_sigkill_into_an_oom_kill(
    tmp_path: Path, text: str, pid: int | None, confidence: Confidence
) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "raylet.out").write_text(text)
    verdict = explain_exit_code(-9, ray_logs=str(tmp_path), pid=pid)
    assert (verdict.category, verdict.confidence) == (Category.OOM_KILLED, confidence)
    assert all(e.source.startswith("raylet.out:") for e in verdict.evidence)
    assert "memory monitor" in verdict.summary


def test_ray_logs_about_another_worker_are_not_evidence(tmp_path: Path) -> None:
    (tmp_path / "raylet.out").write_text(RAYLET_260)
    verdict = explain_exit_code(137, ray_logs=str(tmp_path), pid=9999)
    assert (verdict.category, verdict.confidence) == (Category.KILLED, Confidence.AMBIGUOUS)
    assert verdict.evidence == ()


def test_ray_memory_monitor_sends_sigterm_first(tmp_path: Path) -> None:
    (tmp_path / "raylet.out").write_text(RAYLET_260)
    verdict = explain_exit_code(-15, ray_logs=str(tmp_path), pid=8224)
    assert (verdict.category, verdict.confidence) == (Category.OOM_KILLED, Confidence.CERTAIN)


# --- crash traces -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "signum"),
    [
        ("*** SIGSEGV received at time=1795449809 on cpu 1 ***", 11),
        (
            "[2026-11-23 16:03:29,826 E 6476 6476] logging.cc:474: *** SIGSEGV received at "
            "time=1795449809 on cpu 1 ***",
            11,
        ),
        ("*** SIGABRT received at time=1795449809 on cpu 0 ***", 6),
        ("Fatal Python error: Segmentation fault", 11),
        ("Fatal Python error: Aborted", 6),
        ("Fatal Python error: Bus error", 7),
        ("Fatal Python error: Floating point exception", 8),
        ("Fatal Python error: Illegal instruction", 4),
    ],
)
def test_crash_traces(line: str, signum: int) -> None:
    finding = crash_trace_finding(line, "worker.err:3")
    assert finding is not None
    assert (finding.kind, finding.value) == (FindingKind.SIGNAL, signum)


def test_lines_that_are_not_crash_traces() -> None:
    assert crash_trace_finding("Fatal Python error: init_fs_encoding", "x") is None
    assert crash_trace_finding("*** nothing ***", "x") is None


# --- exit details as Ray 2.60 records them ----------------------------------------------

LOST = (
    "Worker unexpectedly exits with a connection error code 2. End of file. Some common causes "
    "include: (1) the process was killed by the OOM killer due to high memory usage, (2) ray stop "
    "--force was called, or (3) the worker crashed unexpectedly due to SIGSEGV or another "
    "unexpected error."
)
SOCKET_CLOSED = (
    "The leased worker has unrecoverable failure. Worker is requested to be destroyed when it is "
    "returned. RPC error: Socket closed"
)
EXIT_3 = (
    "The leased worker has unrecoverable failure. Worker is requested to be destroyed when it is "
    "returned. Worker exits with an exit code 3."
)
INIT_ERROR = (
    "Worker exits because there was an exception in the initialization method (e.g., __init__). "
    "Fix the exceptions from the initialization to resolve the issue. Exception raised from an "
    "actor init method. Traceback: The actor died because of an error raised in its creation task,"
    " \x1b[36mray::BadInit.__init__()\x1b[39m (pid=6561, ip=127.0.0.1, actor_id=3c9a)\n"
    '  File "/tmp/scen.py", line 25, in __init__\n'
    '    raise ValueError("boom in init")\n'
    "ValueError: boom in init"
)
RAY_KILL = "Worker exits because the actor is killed. The actor is dead because it was killed by `ray.kill`."


@pytest.mark.parametrize(
    ("exit_type", "detail", "category", "confidence", "code"),
    [
        ("SYSTEM_ERROR", LOST, Category.KILLED, Confidence.AMBIGUOUS, None),
        ("SYSTEM_ERROR", SOCKET_CLOSED, Category.KILLED, Confidence.AMBIGUOUS, None),
        ("SYSTEM_ERROR", EXIT_3, Category.ERROR, Confidence.CERTAIN, 3),
        ("USER_ERROR", INIT_ERROR, Category.ERROR, Confidence.CERTAIN, None),
        ("INTENDED_SYSTEM_EXIT", RAY_KILL, Category.KILLED, Confidence.CERTAIN, None),
        ("NODE_OUT_OF_MEMORY", TASK_ERROR_260, Category.OOM_KILLED, Confidence.CERTAIN, None),
        (
            "INTENDED_SYSTEM_EXIT",
            "Killing leased worker because its owner died.",
            Category.TERMINATED,
            Confidence.CERTAIN,
            None,
        ),
    ],
)
def test_exit_details(
    exit_type: str,
    detail: str,
    category: Category,
    confidence: Confidence,
    code: int | None,
) -> None:
    findings = exit_detail_findings(exit_type, detail, "state-api", pid=6561, worker_id="ab")
    verdict = classify(None, findings, pid=6561, worker_id="ab")
    assert (verdict.category, verdict.confidence, verdict.code) == (category, confidence, code)
    assert verdict.evidence[0].source == "state-api"
    assert verdict.evidence[0].line.startswith(f"exit_type={exit_type}")


def test_init_error_names_the_exception() -> None:
    assert exception_line(INIT_ERROR) == "ValueError: boom in init"
    verdict = classify(None, exit_detail_findings("USER_ERROR", INIT_ERROR, "gcs"))
    assert "ValueError: boom in init" in verdict.summary


def test_a_vanished_worker_with_its_own_segfault_trace() -> None:
    findings = [
        *exit_detail_findings("SYSTEM_ERROR", LOST, "state-api", pid=6476),
        crash_trace_finding("Fatal Python error: Segmentation fault", "worker-x.err:5", pid=6476),
    ]
    verdict = classify(None, [f for f in findings if f], pid=6476)
    assert (verdict.category, verdict.confidence, verdict.signal) == (
        Category.SEGFAULT,
        Confidence.CERTAIN,
        "SIGSEGV",
    )
    assert verdict.evidence[0].source == "worker-x.err:5"


# --- every clause of an exit detail, as Ray 2.60 wrote them on real workers ---------------
#
# Recorded by tests/integration/test_diagnose_ray.py's scenarios and by a two-node
# ray.cluster_utils cluster whose second node was drained (`ray drain-node`'s API, reason
# PREEMPTION) or sent SIGTERM: list_workers' exit_detail, list_actors' death_cause,
# list_tasks' error_message, list_nodes' state_message, gcs_server.out and
# python-core-worker-*.log.

SIGTERM_TASK = (  # list_workers, gcs_server.out: a task's worker sent SIGTERM while it ran
    "The leased worker has unrecoverable failure. Worker is requested to be destroyed when it "
    "is returned. Worker exits with an exit code 1. The process receives a SIGTERM."
)
SIGTERM_SELF = (  # python-core-worker-*.log of the same worker, and a busy actor's record
    "Worker exits unexpectedly. Worker exits with an exit code 1. The process receives a SIGTERM."
)
SIGTERM_IDLE_ACTOR = (  # an actor's worker sent SIGTERM between calls
    "Worker exits unexpectedly by a signal. SystemExit is raised (sys.exit is called). Exit "
    "code: 1. The process receives a SIGTERM."
)
SIGTERM_ACTOR_CAUSE = (  # list_actors death_cause.actor_died_error_context.error_message
    "The actor is dead because its worker process has died. Worker exit type: SYSTEM_ERROR "
    f"Worker exit detail: {SIGTERM_IDLE_ACTOR}"
)
SIGTERM_TASK_ERROR = (  # list_tasks error_message (error_type WORKER_DIED)
    "UnexpectedSystemExit: Worker exits with an exit code 1. The process receives a SIGTERM."
)
EXIT_ACTOR = (
    "Worker exits by an user request. Worker exits with an exit code 0. exit_actor() is called."
)
NODE_ID = "2b897d984786cf8ff21be0f7bcf8f45a43740aae4df20e7260011966"
PREEMPTED_ACTOR = (
    f"The actor died because its node has died. Node Id: {NODE_ID}\n"
    "\tthe actor's node was preempted: spot instance reclaimed"
)
SIGTERMED_NODE_ACTOR = (
    f"The actor died because its node has died. Node Id: {NODE_ID}\n"
    "\tthe actor's node was terminated expectedly: received SIGTERM"
)
# Ray 2.60's GCS writes this clause with the health check's own message (both in gcs_server).
LOST_NODE_ACTOR = (
    f"The actor died because its node has died. Node Id: {NODE_ID}\n"
    "\tthe actor's node was terminated unexpectedly: health check failed due to missing too many "
    "heartbeats"
)
NODE_DIED_TASK = (
    "Task failed because the node it was running on is dead or unavailable. Node IP: 127.0.0.1, "
    f"node ID: {NODE_ID}. This can happen if the node was preempted, had a hardware failure, or "
    "its raylet crashed unexpectedly. To see node death information, use `ray list nodes "
    f"--filter node_id={NODE_ID}`, check the Ray dashboard cluster page, search the node ID in "
    "the GCS logs, or use `ray logs raylet.out -ip 127.0.0.1`."
)


@pytest.mark.parametrize(
    ("exit_type", "detail", "category", "confidence", "code", "signal"),
    [
        ("SYSTEM_ERROR", SIGTERM_TASK, Category.TERMINATED, Confidence.CERTAIN, 1, "SIGTERM"),
        ("SYSTEM_ERROR", SIGTERM_SELF, Category.TERMINATED, Confidence.CERTAIN, 1, "SIGTERM"),
        ("SYSTEM_ERROR", SIGTERM_IDLE_ACTOR, Category.TERMINATED, Confidence.CERTAIN, 1, "SIGTERM"),
        (None, SIGTERM_ACTOR_CAUSE, Category.TERMINATED, Confidence.CERTAIN, 1, "SIGTERM"),
        (None, SIGTERM_TASK_ERROR, Category.TERMINATED, Confidence.CERTAIN, 1, "SIGTERM"),
        ("INTENDED_USER_EXIT", EXIT_ACTOR, Category.SUCCESS, Confidence.CERTAIN, 0, None),
        (
            "INTENDED_SYSTEM_EXIT",
            "Worker exited because it was idle for a long time",
            Category.TERMINATED,
            Confidence.CERTAIN,
            None,
            None,
        ),
        (
            "INTENDED_USER_EXIT",
            "Worker force exited because its job has finished",
            Category.TERMINATED,
            Confidence.CERTAIN,
            None,
            None,
        ),
        (None, PREEMPTED_ACTOR, Category.TERMINATED, Confidence.CERTAIN, None, None),
        (None, SIGTERMED_NODE_ACTOR, Category.TERMINATED, Confidence.CERTAIN, None, None),
        (None, LOST_NODE_ACTOR, Category.KILLED, Confidence.CERTAIN, None, None),
        (None, NODE_DIED_TASK, Category.KILLED, Confidence.AMBIGUOUS, None, None),
    ],
)
def test_every_clause(
    exit_type: str | None,
    detail: str,
    category: Category,
    confidence: Confidence,
    code: int | None,
    signal: str | None,
) -> None:
    findings = exit_detail_findings(exit_type, detail, "state-api", pid=6561, worker_id="ab")
    verdict = classify(None, findings, pid=6561, worker_id="ab")
    assert (verdict.category, verdict.confidence) == (category, confidence), verdict.summary
    assert (verdict.code, verdict.signal) == (code, signal)


def test_a_sigterm_keeps_the_code_ray_recorded_and_says_why() -> None:
    verdict = classify(None, exit_detail_findings("SYSTEM_ERROR", SIGTERM_TASK, "gcs"))
    assert verdict.summary.startswith(
        "exit status 1 from its SIGTERM handler: terminated by SIGTERM"
    )
    assert "sys.exit(1) on SIGTERM" in verdict.likely_causes[0]
    assert any("DisconnectClient: sending SIGTERM" in step for step in verdict.next_steps)
    document = verdict_to_dict(verdict)
    assert (document["code"], document["signal"], document["category"]) == (
        1,
        "SIGTERM",
        "terminated",
    )


def test_the_clauses_each_detail_records() -> None:
    def kinds(detail: str) -> list[tuple[str, int | str | None]]:
        return [(f.kind.value, f.value) for f in exit_detail_findings("SYSTEM_ERROR", detail, "x")]

    assert kinds(SIGTERM_IDLE_ACTOR) == [("exit_status", 1), ("signal_handled", 15)]
    # "by a signal" names none, and "SystemExit" is not taken for one.
    assert kinds(
        "Worker exits unexpectedly by a signal. SystemExit is raised (sys.exit is called). "
        "Exit code: 3."
    ) == [("exit_status", 3), ("signal_handled", None)]
    assert kinds("Worker exits unexpectedly by a signal. Exit code was not specified.") == [
        ("ray_lost", None)
    ]
    assert kinds(PREEMPTED_ACTOR) == [("ray_node_died", "preempted: spot instance reclaimed")]
    assert kinds(SIGTERMED_NODE_ACTOR) == [("ray_node_died", "terminated: received SIGTERM")]
    assert kinds(NODE_DIED_TASK) == [("ray_node_died", "unknown")]
    assert kinds("Killing leased worker because its owner died.") == [
        ("ray_exit", "its owner died")
    ]
    assert kinds("Exited because worker reached max_calls=1") == [
        ("ray_exit", "it reached max_calls")
    ]


def test_a_handler_of_its_own_that_exits_with_a_code() -> None:
    """Ray names no signal: the code stays a plain failure, and the cause says a signal ended it."""
    detail = (
        "Worker exits unexpectedly by a signal. SystemExit is raised (sys.exit is called). "
        "Exit code: 3."
    )
    verdict = classify(None, exit_detail_findings("SYSTEM_ERROR", detail, "x"))
    assert (verdict.category, verdict.code, verdict.signal) == (Category.ERROR, 3, None)
    assert "a signal handler of its own called sys.exit(3)" in verdict.likely_causes[0]


@pytest.mark.parametrize(
    ("message", "expected"),
    [  # list_nodes' state_message for a dead node (ray.dashboard.utils.compose_state_message)
        (
            "Terminated due to preemption: spot instance reclaimed",
            "preempted: spot instance reclaimed",
        ),
        ("Expected termination: received SIGTERM", "terminated: received SIGTERM"),
        (
            "Unexpected termination: health check failed due to missing too many heartbeats",
            "unexpected: health check failed due to missing too many heartbeats",
        ),
        ("Terminated due to idle (no Ray activity)", "idle"),
        ("", None),
    ],
)
def test_node_state_messages(message: str, expected: str | None) -> None:
    assert node_death(message) == expected


def test_the_most_specific_cause_wins() -> None:
    sigterm = exit_detail_findings("SYSTEM_ERROR", SIGTERM_SELF, "core-worker.log", pid=8224)
    # Ray's memory monitor sends SIGTERM first: its kill record outranks the signal.
    oom = exit_detail_findings("NODE_OUT_OF_MEMORY", TASK_ERROR_260, "gcs", pid=8224)
    verdict = classify(None, sigterm + oom, pid=8224)
    assert (verdict.category, verdict.confidence) == (Category.OOM_KILLED, Confidence.CERTAIN)
    assert (verdict.code, verdict.signal) == (1, "SIGTERM")
    # Ray stopping the worker on purpose outranks the signal it sent to do so.
    owner = exit_detail_findings(
        "INTENDED_SYSTEM_EXIT", "Killing leased worker because its owner died.", "gcs", pid=8224
    )
    verdict = classify(None, sigterm + owner, pid=8224)
    assert verdict.category is Category.TERMINATED
    assert verdict.summary.endswith("stopped by Ray on purpose: its owner died")
    assert verdict.signal == "SIGTERM"
    # The node's own record of how it died outranks the task's "the node is dead".
    node = exit_detail_findings(None, "Terminated due to preemption: spot reclaimed", "node")
    task = exit_detail_findings(None, NODE_DIED_TASK, "task")
    verdict = classify(None, task + node)
    assert verdict.summary.startswith("its node was preempted (spot reclaimed)")
    assert [e.source for e in verdict.evidence] == ["node", "task"]
    # A crash trace of its own is never mistaken for a handled signal.
    segv = crash_trace_finding("Fatal Python error: Segmentation fault", "worker.err:2", pid=8224)
    assert segv is not None
    assert classify(1, [segv], pid=8224).category is Category.ERROR
