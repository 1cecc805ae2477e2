"""Findings from Ray's own words: memory-monitor kills, crash traces, worker exit details.

Pure text matching, for the messages Ray 2.60 prints and the older wordings
still found in users' logs. One phrase is deliberately *not* evidence: Ray
appends "The worker may have exceeded K8s pod memory limits." to every
non-zero worker exit on Kubernetes, whatever the cause.

>>> line = "Task was killed due to the node running low on memory."
>>> [f.kind.value for f in ray_log_findings(line, "raylet.out:7")]
['oom_ray']
>>> ray_log_findings("Worker exits with an exit code 1. The worker may have exceeded "
...                  "K8s pod memory limits.", "raylet.out:9")
[]
"""

from __future__ import annotations

import re

from rayobs.diagnose._evidence import Finding, FindingKind, clip
from rayobs.diagnose._exitcodes import signal_number
from rayobs.diagnose._verdict import Evidence

# --- the memory monitor ------------------------------------------------------------------

# Lines that name the killed worker (pid, worker id).
_OOM_VICTIM = (
    # 2.60: "Selected to kill: (Task: ..., pid=8224, actual memory used=0.92GB, worker ID=fcce...)"
    re.compile(r"\bpid=(?P<pid>\d+), actual memory used=[\d.]+\w*, worker ID=(?P<wid>[0-9a-f]+)"),
    # older: "... where the task (task ID: ..., name=f, pid=4242, memory used=1.2GB) was running"
    re.compile(r"where the (?:task|actor) \(.*?\bpid=(?P<pid>\d+), memory used="),
    # older: "Ray killed this worker (ID: fcce...) because it was the most recently scheduled task"
    re.compile(r"Ray killed this worker \(ID: (?P<wid>[0-9a-f]+)\)"),
)
# Lines that say the memory monitor killed, without naming whom.
_OOM_EVENT = (
    re.compile(r"\d+ worker\(s\) were killed due to the node running low on memory"),
    re.compile(r"\bTask was killed due to the node running low on memory"),
    re.compile(r"\bKilling \d+ worker\(s\), kill details: Memory on the node"),
    re.compile(r"\bWorkers \(tasks / actors\) killed due to memory pressure \(OOM\)"),
)
_OOM_HINTS = (
    "memory used=",
    "low on memory",
    "memory pressure",
    "Ray killed this worker",
    "kill details",
)


def ray_log_findings(line: str, source: str) -> list[Finding]:
    """Memory-monitor kills and crash traces in one line of a Ray log."""
    found: list[Finding] = []
    if any(hint in line for hint in _OOM_HINTS):
        evidence = Evidence(source, clip(line))
        pid: str | None = None
        wid: str | None = None
        for pattern in _OOM_VICTIM:
            match = pattern.search(line)
            if match:
                groups = match.groupdict()
                pid, wid = pid or groups.get("pid"), wid or groups.get("wid")
        if pid or wid:
            found.append(
                Finding(FindingKind.OOM_RAY, evidence, pid=int(pid) if pid else None, worker_id=wid)
            )
        elif any(pattern.search(line) for pattern in _OOM_EVENT):
            found.append(Finding(FindingKind.OOM_RAY, evidence))
    trace = crash_trace_finding(line, source)
    if trace is not None:
        found.append(trace)
    return found


# --- crash traces a worker leaves in its own stderr ----------------------------------------

# Ray's native failure handler: "*** SIGSEGV received at time=1795449809 on cpu 1 ***"
_NATIVE_TRACE = re.compile(r"\*\*\* (SIG[A-Z]+) received at time=")
# faulthandler: "Fatal Python error: Segmentation fault"
_FAULTHANDLER = re.compile(
    r"Fatal Python error: (Segmentation fault|Aborted|Bus error|Floating[- ]point exception"
    r"|Illegal instruction)"
)
_FAULTHANDLER_SIGNALS = {
    "segmentation fault": 11,
    "aborted": 6,
    "bus error": 7,
    "floating point exception": 8,
    "floating-point exception": 8,
    "illegal instruction": 4,
}


def crash_trace_finding(line: str, source: str, pid: int | None = None) -> Finding | None:
    """A native crash trace (Ray's handler or faulthandler) naming a signal, if any."""
    if "***" not in line and "Fatal Python error" not in line:
        return None
    match = _NATIVE_TRACE.search(line)
    number: int | None = None
    if match:
        number = signal_number(match.group(1))
    else:
        match = _FAULTHANDLER.search(line)
        if match:
            number = _FAULTHANDLER_SIGNALS[match.group(1).lower()]
    if number is None:
        return None
    return Finding(FindingKind.SIGNAL, Evidence(source, clip(line)), pid=pid, value=number)


# --- worker exit details (state API, gcs_server.out, python-core-worker-*.log) --------------
#
# Ray 2.60 builds a worker's exit detail from several clauses, and every one is read:
#   "Worker exits unexpectedly." / "Worker exits by an user request."   (who decided)
#   "Worker exits with an exit code 1." / "Exit code: 1."                (the status)
#   "Worker exits unexpectedly by a signal. SystemExit is raised (sys.exit is called)."
#   "The process receives a SIGTERM."                                    (the signal behind it)
# A worker sent SIGTERM is recorded as "... exit code 1. The process receives a SIGTERM.":
# Ray's handler turns the signal into sys.exit(1), so the status is the handler's, the cause
# the signal. Ray's own reasons for ending a worker (idle, owner died, ...) and a dead node
# ("the actor's node was preempted: ...") are more specific still.

_EXIT_CODE = re.compile(r"\bexits? with an exit code (-?\d+)|\bExit code: (-?\d+)")
# 2.60 names no signal here ("Worker exits unexpectedly by a signal. SystemExit is raised");
# a "Signal: N" after it is read should a release add one.
_BY_SIGNAL = re.compile(r"\bexits (?:unexpectedly )?by a signal\b\.?(?:\s*Signal:?\s*(\w+))?")
_RECEIVED = re.compile(r"\bThe process receives an? (SIG[A-Z0-9]+)\b")
_LOST = (
    "connection error code",
    "End of file",
    "Socket closed",
    "Broken pipe",
    "Connection reset",
)
_KILLED = (
    "killed by `ray.kill`",
    "Force-killed by ray.cancel",
    "Worker exits because the actor is killed",
)
# Ray ending a worker as part of its lifecycle: (what Ray writes, what it means).
_RAY_REASONS = (
    ("idle for a long time", "it was idle for a long time"),
    ("RPC failure during idle exit", "it was idle and its exit RPC failed"),
    ("because its job has finished", "its job finished"),
    ("because its job finished", "its job finished"),
    ("reached max_calls=", "it reached max_calls"),
    ("because its owner's node died", "its owner's node died"),
    ("because its owner died", "its owner died"),
    ("its bundle was unused", "its placement group bundle was unused"),
    ("its placement group was removed", "its placement group was removed"),
    ("placement group bundles that are not registered", "its placement group bundles were lost"),
)
# The actor's death cause when its node died (GCS), and the node's state message (state API).
_NODE_DEATH = (
    (re.compile(r"\bthe actor's node was preempted: ?(.*)"), "preempted"),
    (re.compile(r"\bthe actor's node was terminated expectedly: ?(.*)"), "terminated"),
    (re.compile(r"\bthe actor's node was terminated unexpectedly: ?(.*)"), "unexpected"),
    (re.compile(r"\bthe actor's node was terminated: ?(.*)"), "terminated"),
    (re.compile(r"^Terminated due to preemption(?:: (.*))?"), "preempted"),
    (re.compile(r"^Expected termination(?:: (.*))?"), "terminated"),
    (re.compile(r"^Unexpected termination(?:: (.*))?"), "unexpected"),
    (re.compile(r"^Terminated due to idle \(no Ray activity\)(?:: (.*))?"), "idle"),
    (re.compile(r"\bThe actor died because its node has died\b"), "unknown"),
    (re.compile(r"\bthe node it was running on is dead or unavailable\b"), "unknown"),
)
_INIT_ERROR = "exception in the initialization method"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_EXCEPTION_LINE = re.compile(
    r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt))(?::\s*(.*))?$"
)


def exit_detail_findings(
    exit_type: str | None,
    detail: str | None,
    source: str,
    *,
    pid: int | None = None,
    worker_id: str | None = None,
) -> list[Finding]:
    """What Ray recorded about a worker's exit: its type and every clause of the detail text.

    ``exit_type`` is one of Ray's worker exit types (``SYSTEM_ERROR``,
    ``INTENDED_SYSTEM_EXIT``, ``USER_ERROR``, ``INTENDED_USER_EXIT``,
    ``NODE_OUT_OF_MEMORY``). The classifier decides which clause explains
    the exit; this only says what each one records.

    >>> detail = "Worker exits with an exit code 1. The process receives a SIGTERM."
    >>> [(f.kind.value, f.value) for f in exit_detail_findings("SYSTEM_ERROR", detail, "x")]
    [('exit_status', 1), ('signal_handled', 15)]
    """
    text = detail or ""
    label = f"exit_type={exit_type} " if exit_type else ""
    # A traceback (an actor's __init__ raising) is cited by its first line; other details
    # whole, so that a clause on a later line (a node's death) is in the evidence.
    shown = first_line(text) if _INIT_ERROR in text else clip(text)
    evidence = Evidence(source, clip(f"{label}{shown}".strip()))
    found: list[Finding] = []

    def add(kind: FindingKind, value: int | str | None = None) -> None:
        found.append(Finding(kind, evidence, pid=pid, worker_id=worker_id, value=value))

    if exit_type == "NODE_OUT_OF_MEMORY":
        add(FindingKind.OOM_RAY)
        return found
    for line in text.splitlines():
        found.extend(
            Finding(f.kind, f.evidence, pid=f.pid or pid, worker_id=f.worker_id or worker_id)
            for f in ray_log_findings(line, source)
            if f.kind is FindingKind.OOM_RAY
        )
    if _INIT_ERROR in text:
        add(FindingKind.RAY_INIT_ERROR, exception_line(text))
    elif any(marker in text for marker in _KILLED):
        add(FindingKind.RAY_KILLED)
    node = node_death(text)
    if node is not None:
        add(FindingKind.RAY_NODE_DIED, node)
    reason = next((meaning for marker, meaning in _RAY_REASONS if marker in text), None)
    if reason is not None:
        add(FindingKind.RAY_EXIT, reason)
    code = _EXIT_CODE.search(text)
    if code:
        add(FindingKind.EXIT_STATUS, int(code.group(1) or code.group(2)))
    received = _RECEIVED.search(text)
    named = signal_number(received.group(1)) if received else None
    if named is not None:
        add(FindingKind.SIGNAL_HANDLED, named)
    by_signal = _BY_SIGNAL.search(text)
    if by_signal:
        number = signal_number(by_signal.group(1)) if by_signal.group(1) else None
        if number is not None and named is None:
            add(FindingKind.SIGNAL, number)
        elif named is None and code:
            add(FindingKind.SIGNAL_HANDLED)  # a handler of its own called sys.exit
        elif named is None:
            add(FindingKind.RAY_LOST)
    if not found and any(marker in text for marker in _LOST):
        add(FindingKind.RAY_LOST)
    if not found and exit_type in ("INTENDED_SYSTEM_EXIT", "INTENDED_USER_EXIT"):
        add(FindingKind.RAY_EXIT, first_line(text) or exit_type)
    return found


def node_death(text: str) -> str | None:
    """How a node died, from Ray's words: ``"preempted: spot instance reclaimed"``.

    The part before ``": "`` is a key of ``_raycauses.NODE_DEATHS`` (preempted,
    terminated, idle, unexpected, unknown); the rest is Ray's reason message,
    when it gave one.

    >>> node_death("The actor died because its node has died. Node Id: 5360\\n"
    ...            "\\tthe actor's node was terminated expectedly: received SIGTERM")
    'terminated: received SIGTERM'
    """
    unescaped = text.replace("\\n", "\n").replace("\\t", "\t")  # JSON-escaped in events
    lines = [line.strip() for line in unescaped.splitlines()]
    for pattern, how in _NODE_DEATH:
        for line in lines:
            match = pattern.search(line)
            if match:
                message = (match.group(1) or "").strip() if pattern.groups else ""
                return f"{how}: {message}" if message else how
    return None


def first_line(text: str) -> str:
    """The first non-empty line, clipped."""
    for line in text.splitlines():
        if line.strip():
            return clip(line)
    return ""


def exception_line(text: str) -> str:
    """The last ``SomeError: message`` line of a traceback, or the first line."""
    last = ""
    for line in _ANSI.sub("", text).splitlines():
        match = _EXCEPTION_LINE.match(line)
        if match:
            last = line.strip()
    return clip(last) if last else first_line(text)


# Ends Ray brings about as part of normal operation: not deaths worth diagnosing.
_ROUTINE_SYSTEM_EXITS = (
    "idle",
    "job finished",
    "job has finished",
    "bundle was unused",
    "placement group was removed",
    "max_calls",
)


def is_routine_exit(exit_type: str | None, detail: str | None) -> bool:
    """Whether Ray ended the worker as part of normal operation.

    Every ``INTENDED_USER_EXIT`` is (``ray.shutdown()``, ``exit_actor()``, a job
    that finished); an ``INTENDED_SYSTEM_EXIT`` is unless it was a kill
    (``ray.kill``, a forced cancel, a dead owner).
    """
    if exit_type == "INTENDED_USER_EXIT":
        return True
    if exit_type == "INTENDED_SYSTEM_EXIT":
        text = detail or ""
        return any(marker in text for marker in _ROUTINE_SYSTEM_EXITS)
    return False
