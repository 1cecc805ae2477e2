"""Post-mortem: read a Ray session's logs directory into observations of ended workers.

Works on a copied session directory with the cluster long gone. What each file
contributes (Ray 2.60):

- ``gcs_server.out``: "Reporting worker exit, worker id = ..., exit_type = ...,
  exit_detail = ..." for every worker that did not exit on its own;
- ``python-core-worker-<id>_<pid>.log``: the worker's own "Disconnect,
  exit_type=..., exit_detail=..." when it exited on purpose, and crash traces;
- ``worker-<id>-<job>-<pid>.err``: crash traces (Ray's native handler,
  faulthandler) and the task or actor name (``:task_name:``/``:actor_name:``);
- ``events/event_RAYLET.log``: ``RAY_WORKER_FAILURE`` and "Out of Memory" events;
- ``raylet.out``: memory-monitor kills naming pid and worker id, the pid of
  each worker started, and the node id;
- ``rayobs-oom-*.log``: rises of a memory cgroup's ``oom_kill`` counter and the
  processes gone at that moment, written by ``rayobs.hooks`` (opt-in).
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rayobs._oomwatch import FILE_PREFIX, parse_record
from rayobs.diagnose._collect import (
    WORKER_LOG,
    EvidenceError,
    iter_lines,
    logs_dir,
    ray_log_files,
)
from rayobs.diagnose._evidence import Finding, FindingKind
from rayobs.diagnose._nodedeaths import NodeDeath, gcs_node_deaths
from rayobs.diagnose._observation import Observation
from rayobs.diagnose._raymsgs import (
    crash_trace_finding,
    exit_detail_findings,
    is_routine_exit,
    ray_log_findings,
)
from rayobs.diagnose._verdict import Evidence

# "[2026-11-23 16:05:41,720 W 7781 7781] (gcs_server) gcs_worker_manager.cc:70: ..."
_RECORD_START = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) [A-Z] \d+ \d+\] ")
_GCS_EXIT = re.compile(
    r"Reporting worker exit, worker id = (?P<wid>[0-9a-f]+), node id = (?P<node>[0-9a-f]+), "
    r"address = [^,]*, exit_type = (?P<type>\w+), exit_detail = (?P<detail>.*)",
    re.DOTALL,
)
_SELF_EXIT = re.compile(
    r"Disconnect, exit_type=(?P<type>\w+), exit_detail=(?P<detail>.*?)"
    r"(?:, has creation_task_exception\S*=\S+)?$",
    re.DOTALL,
)
_EVENT_FAILURE = re.compile(
    r"Worker ID: (?P<wid>[0-9a-f]+) Node ID: (?P<node>[0-9a-f]+) .*?Worker PID: (?P<pid>\d+) "
    r"Worker exit type: (?P<type>\w+) Worker exit detail: (?P<detail>.*)",
    re.DOTALL,
)
_STARTED = re.compile(r"Started worker process with pid (?P<pid>\d+) worker_id=(?P<wid>[0-9a-f]+)")
_NODE = re.compile(r"(?:Setting node ID node_id=|Raylet of id, )(?P<node>[0-9a-f]{16,})")
_NAME = re.compile(r"^:(?:task_name|actor_name):(?P<name>.+)$")
# The boilerplate GCS appends to unexpected exits; it says nothing about this one.
_GCS_SUFFIX = re.compile(r"\.? ?Unintentional worker failures have been reported\..*$", re.DOTALL)


@dataclass(frozen=True)
class SessionLogs:
    """A session's logs read into observations."""

    session: str  # the session directory's name, e.g. session_2026-11-23_16-03-00_501230_5610
    logs: Path
    node: str | None
    observations: tuple[Observation, ...]
    node_deaths: tuple[NodeDeath, ...] = ()


def read_session(directory: str | Path) -> SessionLogs:
    """Read every ended worker a session's logs mention. Raises ``EvidenceError``."""
    logs = logs_dir(str(directory), "--session-dir")
    files = ray_log_files(logs)
    if not files:
        raise EvidenceError(
            f"--session-dir: no Ray logs in {logs} (expected raylet.out, gcs_server.out, "
            "worker-*.err: point it at a session directory such as /tmp/ray/session_latest)"
        )
    session_dir = logs.parent if logs.name == "logs" else logs
    node = _node_id(logs)
    observations: list[Observation] = []
    node_deaths: list[NodeDeath] = []
    for path in files:
        name = path.name
        if name.startswith("gcs_server") and name.endswith(".out"):
            observations.extend(_gcs_exits(path, logs))
            node_deaths.extend(gcs_node_deaths(records(path), _relative(path, logs)))
        elif name.startswith("raylet") and name.endswith(".out"):
            # Nodes of one machine share a logs directory: raylet.1.out is another node's.
            observations.extend(_raylet(path, logs, _node_of(path) or node))
        elif path.parent.name == "events" and name.startswith("event_RAYLET"):
            observations.extend(_raylet_events(path, logs))
        elif name.startswith(FILE_PREFIX) and name.endswith(".log"):
            observations.extend(_oom_watch(path, logs))
        else:
            match = WORKER_LOG.match(name)
            if match:
                wid = match.group("wid") or match.group("wid2")
                pid = int(match.group("pid") or match.group("pid2"))
                observations.extend(_worker_file(path, logs, wid, pid, node))
    return SessionLogs(
        session_dir.resolve().name, logs, node, tuple(observations), tuple(node_deaths)
    )


def _source(path: Path, logs: Path, number: int) -> str:
    return f"{_relative(path, logs)}:{number}"


def _relative(path: Path, logs: Path) -> str:
    """``path`` below ``logs`` as text (``Path.relative_to`` costs more than reading a log)."""
    text, prefix = str(path), f"{logs}/"
    return text[len(prefix) :] if text.startswith(prefix) else str(path.relative_to(logs))


def records(path: Path) -> Iterator[tuple[int, float | None, str]]:
    """Ray log records: (first line number, epoch time, text with continuation lines)."""
    number: int = 0
    stamp: float | None = None
    parts: list[str] = []
    for index, line in enumerate(iter_lines(path), 1):
        match = _RECORD_START.match(line)
        if match:
            if parts:
                yield number, stamp, "\n".join(parts)
            number, stamp, parts = index, _epoch(match.group(1), match.group(2)), [line]
        elif parts:
            parts.append(line)
        else:
            yield index, None, line
    if parts:
        yield number, stamp, "\n".join(parts)


def _epoch(stamp: str, millis: str) -> float | None:
    # Ray writes the node's local time: right on the machine that wrote it.
    seconds = _seconds(stamp)
    return None if seconds is None else seconds + int(millis) / 1000


@functools.lru_cache(maxsize=4096)
def _seconds(stamp: str) -> float | None:
    """Epoch seconds of a log's local time; records come many to a second, so cached."""
    try:
        return time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S"))
    except (ValueError, OverflowError):
        return None


def _node_id(logs: Path) -> str | None:
    for path in sorted(logs.glob("raylet*.out")):
        node = _node_of(path)
        if node:
            return node
    return None


def _node_of(path: Path) -> str | None:
    for number, line in enumerate(iter_lines(path)):
        match = _NODE.search(line)
        if match:
            return match.group("node")
        if number > 2000:  # it is logged at start-up
            break
    return None


def _gcs_exits(path: Path, logs: Path) -> Iterator[Observation]:
    for number, stamp, text in records(path):
        if "Reporting worker exit" not in text:
            continue
        match = _GCS_EXIT.search(text)
        if not match:
            continue
        detail = _GCS_SUFFIX.sub("", match.group("detail")).strip()
        wid, exit_type = match.group("wid"), match.group("type")
        yield Observation(
            worker_id=wid,
            node=match.group("node"),
            exit_type=exit_type,
            time=stamp,
            findings=tuple(
                exit_detail_findings(exit_type, detail, _source(path, logs, number), worker_id=wid)
            ),
            routine=is_routine_exit(exit_type, detail),
        )


def _raylet(path: Path, logs: Path, node: str | None) -> Iterator[Observation]:
    for number, line in enumerate(iter_lines(path), 1):
        started = _STARTED.search(line)
        if started:
            yield Observation(
                worker_id=started.group("wid"),
                pid=int(started.group("pid")),
                node=node,
                ended=False,
            )
            continue
        for finding in ray_log_findings(line, _source(path, logs, number)):
            # A kill line naming the worker proves it ended; one naming nobody cannot be tied.
            if finding.kind is FindingKind.OOM_RAY and (finding.pid or finding.worker_id):
                stamp = _RECORD_START.match(line)
                yield Observation(
                    worker_id=finding.worker_id,
                    pid=finding.pid,
                    node=node,
                    exit_type="NODE_OUT_OF_MEMORY",
                    time=_epoch(stamp.group(1), stamp.group(2)) if stamp else None,
                    findings=(finding,),
                )


def _oom_watch(path: Path, logs: Path) -> Iterator[Observation]:
    """Rises of a cgroup's OOM counter that ``rayobs.hooks`` wrote, with the processes gone.

    One process gone for one kill is the victim (tied to its pid); several gone
    are candidates, each with evidence that cannot name it.
    """
    for number, line in enumerate(iter_lines(path), 1):
        record = parse_record(line)
        if record is None or not record.gone:
            continue
        gone = ", ".join(f"{pid} ({name})" for pid, name in record.gone)
        evidence = Evidence(
            _source(path, logs, number),
            f"oom_kill {record.before} -> {record.after} in {record.cgroup}; gone: {gone}",
        )
        sure = len(record.gone) == record.after - record.before
        for pid, _name in record.gone:
            finding = Finding(FindingKind.OOM_CGROUP, evidence, pid=pid if sure else None)
            yield Observation(pid=pid, node=record.node, findings=(finding,), ended=False)


def _raylet_events(path: Path, logs: Path) -> Iterator[Observation]:
    for number, line in enumerate(iter_lines(path), 1):
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        message = str(event.get("message", ""))
        stamp = event.get("timestamp")
        when = float(stamp) if isinstance(stamp, int | float) else None
        source = _source(path, logs, number)
        if event.get("label") == "RAY_WORKER_FAILURE":
            match = _EVENT_FAILURE.search(message)
            if not match:
                continue
            pid, wid, exit_type = int(match.group("pid")), match.group("wid"), match.group("type")
            detail = match.group("detail")
            yield Observation(
                worker_id=wid,
                pid=pid,
                node=match.group("node"),
                exit_type=exit_type,
                time=when,
                findings=tuple(
                    exit_detail_findings(exit_type, detail, source, pid=pid, worker_id=wid)
                ),
                routine=is_routine_exit(exit_type, detail),
            )
        elif "memory" in message:
            # Multi-line messages arrive with escaped newlines inside one JSON line.
            for part in message.replace("\\n", "\n").splitlines():
                for finding in ray_log_findings(part, source):
                    if finding.kind is FindingKind.OOM_RAY and (finding.pid or finding.worker_id):
                        yield Observation(
                            worker_id=finding.worker_id,
                            pid=finding.pid,
                            exit_type="NODE_OUT_OF_MEMORY",
                            time=when,
                            findings=(finding,),
                        )


def _worker_file(
    path: Path, logs: Path, wid: str, pid: int, node: str | None
) -> Iterator[Observation]:
    # Most of a worker's log is the program's own output: find the few lines that matter
    # in the whole text at once (as grep does) instead of testing every line.
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    name = None
    traces: list[Finding] = []
    source = _relative(path, logs)
    if path.name.startswith("python-core-worker-") and "Disconnect, exit_type=" in text:
        for number, stamp, record in _self_exits(text):
            match = _SELF_EXIT.search(record)
            if match:
                exit_type, detail = match.group("type"), match.group("detail")
                yield Observation(
                    worker_id=wid,
                    pid=pid,
                    node=node,
                    exit_type=exit_type,
                    time=stamp,
                    findings=tuple(
                        exit_detail_findings(
                            exit_type, detail, f"{source}:{number}", pid=pid, worker_id=wid
                        )
                    ),
                    routine=is_routine_exit(exit_type, detail),
                )
    for number, line in _hits(text, _WORKER_KEYS):
        named = _NAME.match(line)
        if named:
            name = named.group("name").strip()
            continue
        trace = crash_trace_finding(line, f"{source}:{number}")
        if trace is not None:
            traces.append(Finding(trace.kind, trace.evidence, pid, wid, trace.value, own=True))
    if traces:
        yield Observation(worker_id=wid, pid=pid, node=node, name=name, findings=tuple(traces))
    elif name:
        yield Observation(worker_id=wid, pid=pid, node=node, name=name, ended=False)


# What marks the lines of a worker's log that can matter: its task or actor name, crash traces.
_WORKER_KEYS = (":task_name:", ":actor_name:", "***", "Fatal Python error")


def _hits(text: str, keys: tuple[str, ...]) -> Iterator[tuple[int, str]]:
    """(line number, line) of each line of ``text`` holding one of ``keys``, in order.

    ``str.find`` per key, as grep does: far faster than a regular expression tried
    at every position, on logs that are mostly the program's own output.
    """
    starts: set[int] = set()
    for key in keys:
        position = text.find(key)
        while position >= 0:
            start = text.rfind("\n", 0, position) + 1
            starts.add(start)
            end = text.find("\n", position)
            position = text.find(key, end) if end >= 0 else -1
    number, counted = 1, 0
    for start in sorted(starts):
        number += text.count("\n", counted, start)
        counted = start
        end = text.find("\n", start)
        yield number, text[start : end if end >= 0 else len(text)].rstrip("\r")


def _self_exits(text: str) -> Iterator[tuple[int, float | None, str]]:
    """The records (with continuation lines) holding a worker's own "Disconnect" line."""
    position = 0
    while (found := text.find("Disconnect, exit_type=", position)) >= 0:
        start = text.rfind("\n", 0, found) + 1
        following = _NEXT_RECORD.search(text, found)
        end = following.start() if following else len(text)
        stamp = _RECORD_START.match(text[start : start + 64])  # ^ holds at 0 only
        when = _epoch(stamp.group(1), stamp.group(2)) if stamp else None
        yield text.count("\n", 0, start) + 1, when, text[start:end].rstrip("\n")
        position = end


_NEXT_RECORD = re.compile(r"\n(?=\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z] \d+ \d+\] )")
