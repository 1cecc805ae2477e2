"""Evidence collectors: read files (or stdin) and hand their lines to the pure matchers.

Every failure to read becomes an ``EvidenceError`` with a one-line message
naming the file, so callers can report it without a traceback.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from rayobs.diagnose._evidence import (
    CGROUP_FILES,
    Finding,
    Termination,
    cgroup_findings,
    kernel_findings,
    pod_terminations,
)
from rayobs.diagnose._raymsgs import ray_log_findings

STDIN = "-"
# Ray names worker logs worker-<worker id>-<job id>-<pid>.{out,err} and
# python-core-worker-<worker id>_<pid>.log.
WORKER_LOG = re.compile(
    r"^(?:worker-(?P<wid>[0-9a-f]+)-[0-9a-f]+-(?P<pid>\d+)\.(?:out|err)"
    r"|python-core-worker-(?P<wid2>[0-9a-f]+)_(?P<pid2>\d+)\.log)$"
)


class EvidenceError(ValueError):
    """An evidence source could not be read or parsed (one line, names the source)."""


def _open(path: str, what: str, stdin: TextIO | None = None) -> tuple[TextIO, str]:
    if path == STDIN:
        stream = stdin or sys.stdin
        if stream.isatty():
            raise EvidenceError(f"{what} '-' reads stdin, but stdin is a terminal: pipe it in")
        return stream, "stdin"
    try:
        return open(path, encoding="utf-8", errors="replace"), Path(path).name
    except IsADirectoryError:
        raise EvidenceError(f"{what}: {path} is a directory, expected a file") from None
    except OSError as exc:
        raise EvidenceError(f"{what}: cannot read {path}: {exc.strerror or exc}") from None


def read_kernel_log(path: str, stdin: TextIO | None = None) -> list[Finding]:
    """OOM kills and crashes in a kernel log (``dmesg``, ``journalctl -k``, ``-`` for stdin)."""
    stream, name = _open(path, "--kernel-log", stdin)
    try:
        return kernel_findings(_lines(stream, path), name)
    finally:
        if path != STDIN:
            stream.close()


def read_pod(path: str, stdin: TextIO | None = None) -> list[Termination]:
    """Terminated container states of ``kubectl get pod -o json`` output (file or ``-``)."""
    stream, _name = _open(path, "--pod", stdin)
    try:
        document = json.load(stream)
    except json.JSONDecodeError as exc:
        label = "stdin" if path == STDIN else path
        raise EvidenceError(
            f"--pod: {label} is not valid JSON ({exc.msg} at line {exc.lineno})"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvidenceError(f"--pod: cannot read {path}: {exc}") from None
    finally:
        if path != STDIN:
            stream.close()
    try:
        return pod_terminations(document)
    except ValueError as exc:
        raise EvidenceError(f"--pod: {path}: {exc}") from None


def read_cgroup(directory: str) -> list[Finding]:
    """The ``oom_kill`` counters of a cgroup (``memory.events``, ``memory.oom_control``)."""
    root = Path(directory)
    if not root.is_dir():
        raise EvidenceError(f"--cgroup: {directory} is not a directory")
    found: list[Finding] = []
    seen = False
    for name in CGROUP_FILES:
        path = root / name
        if not path.exists():
            continue
        seen = True
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise EvidenceError(f"--cgroup: cannot read {path}: {exc.strerror or exc}") from None
        found.extend(cgroup_findings(name, text, str(root)))
    if not seen:
        raise EvidenceError(
            f"--cgroup: {directory} has no memory.events (v2) or memory.oom_control (v1); "
            "point it at the container's cgroup, e.g. /sys/fs/cgroup or "
            "/sys/fs/cgroup/memory/<path>"
        )
    return found


def logs_dir(directory: str, what: str) -> Path:
    """The ``logs`` directory of a Ray session directory, or the directory itself."""
    root = Path(directory)
    if not root.is_dir():
        raise EvidenceError(f"{what}: {directory} is not a directory")
    if (root / "logs").is_dir():
        return root / "logs"
    return root


def read_ray_logs(directory: str) -> list[Finding]:
    """Memory-monitor kills and crash traces in a Ray logs (or session) directory.

    Findings from a worker's own log files carry that worker's pid and id.
    """
    root = logs_dir(directory, "--ray-logs")
    files = ray_log_files(root)
    if not files:
        raise EvidenceError(f"--ray-logs: no Ray log files in {root}")
    found: list[Finding] = []
    for path in files:
        owner = WORKER_LOG.match(path.name)
        pid = wid = None
        if owner:
            pid = int(owner.group("pid") or owner.group("pid2"))
            wid = owner.group("wid") or owner.group("wid2")
        for number, line in enumerate(iter_lines(path), 1):
            for finding in ray_log_findings(line, f"{path.relative_to(root)}:{number}"):
                if pid is not None and finding.pid is None:
                    finding = Finding(finding.kind, finding.evidence, pid, wid, finding.value)
                found.append(finding)
    return found


def ray_log_files(root: Path) -> list[Path]:
    """Log files of a Ray logs directory and its ``events`` subdirectory, sorted."""
    files = [p for p in root.iterdir() if p.is_file() and p.suffix in (".out", ".err", ".log")]
    events = root / "events"
    if events.is_dir():
        files.extend(p for p in events.iterdir() if p.is_file())
    return sorted(files, key=str)  # as text: comparing Paths costs more than reading small logs


def iter_lines(path: Path) -> Iterator[str]:
    """Lines of a log file, undecodable bytes replaced; unreadable files yield nothing."""
    try:
        with path.open(encoding="utf-8", errors="replace") as stream:
            yield from (line.rstrip("\n") for line in stream)
    except OSError:
        return


def _lines(stream: TextIO, path: str) -> Iterator[str]:
    try:
        yield from (line.rstrip("\n") for line in stream)
    except OSError as exc:
        raise EvidenceError(f"cannot read {path}: {exc.strerror or exc}") from None
