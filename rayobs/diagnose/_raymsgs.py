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

_EXIT_CODE = re.compile(r"\bexits? with an exit code (-?\d+)")
_BY_SIGNAL = re.compile(r"\bexits (?:unexpectedly )?by a signal\.?\s*(?:Signal:?\s*)?(\w+)?")
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
    """What Ray recorded about a worker's exit: its type and the detail text.

    ``exit_type`` is one of Ray's worker exit types (``SYSTEM_ERROR``,
    ``INTENDED_SYSTEM_EXIT``, ``USER_ERROR``, ``INTENDED_USER_EXIT``,
    ``NODE_OUT_OF_MEMORY``).
    """
    text = detail or ""
    label = f"exit_type={exit_type} " if exit_type else ""
    evidence = Evidence(source, clip(f"{label}{first_line(text)}".strip()))
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
    code = _EXIT_CODE.search(text)
    if code:
        add(FindingKind.EXIT_STATUS, int(code.group(1)))
    by_signal = _BY_SIGNAL.search(text)
    if by_signal:
        number = signal_number(by_signal.group(1)) if by_signal.group(1) else None
        if number is not None:
            add(FindingKind.SIGNAL, number)
        elif not code:
            add(FindingKind.RAY_LOST)
    if not found and any(marker in text for marker in _LOST):
        add(FindingKind.RAY_LOST)
    if not found and exit_type in ("INTENDED_SYSTEM_EXIT", "INTENDED_USER_EXIT"):
        add(FindingKind.RAY_EXIT, first_line(text) or exit_type)
    return found


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
