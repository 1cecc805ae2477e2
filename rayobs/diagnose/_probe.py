"""What one node holds about its dead workers: run there, as a Ray task pinned to it.

Standard library only, and shipped by value: the node needs no rayobs. It
returns plain data (kernel lines that can matter, the memory cgroup files of
the Ray processes there), never raises for what it cannot read, and stays
bounded (``MAX_RECORDS`` kernel records, ``BUDGET_S`` seconds, ``KEEP`` lines).
Parsing the lines into findings happens back in diagnose (``_nodes``).
"""

from __future__ import annotations

import errno
import os
import re
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

MAX_RECORDS = 200_000
BUDGET_S = 3.0
KEEP = 400
# Lines about an OOM kill or a native crash; everything else in the kernel log is left there.
_WANTED = re.compile(
    r"Killed process|oom-kill:|oom_reaper|out of memory|segfault at|traps: ", re.IGNORECASE
)
_DMESG_TIME = re.compile(r"^\[\s*(\d+\.\d+)\]")
_CGROUP_FILES = (
    "memory.oom_control",
    "memory.events",
    "memory.events.local",
    "memory.limit_in_bytes",
    "memory.max",
    "memory.max_usage_in_bytes",
    "memory.peak",
)


def probe_node() -> dict[str, Any]:
    """The kernel's OOM and crash lines and the memory cgroups of this node's Ray processes."""
    report: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid(), "errors": []}
    boot = _boot_time()
    kernel = _read_kmsg(boot)
    if kernel.get("error"):
        fallback = _read_dmesg(boot)
        if not fallback.get("error"):
            kernel = fallback
        else:
            kernel["error"] = f"{kernel['error']}; {fallback['error']}"
    report["kernel"] = kernel
    report["cgroups"] = _cgroups((os.getpid(), os.getppid()), report["errors"])
    return report


def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def _read_kmsg(boot: float | None) -> dict[str, Any]:
    """Records of ``/dev/kmsg`` (``PRIO,SEQ,USEC,FLAGS;MESSAGE``), read without blocking."""
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        return {"source": "/dev/kmsg", "error": f"/dev/kmsg: {exc.strerror or exc}", "lines": []}
    lines: list[tuple[float | None, str]] = []
    deadline = time.monotonic() + BUDGET_S
    try:
        for _ in range(MAX_RECORDS):
            if time.monotonic() > deadline:
                break
            try:
                record = os.read(fd, 8192).decode("utf-8", "replace")
            except BlockingIOError:
                break  # the end of the buffer
            except OSError as exc:
                if exc.errno == errno.EPIPE:
                    continue  # records were overwritten while reading: go on with the next
                return {"source": "/dev/kmsg", "error": f"/dev/kmsg: {exc.strerror}", "lines": []}
            head, _, message = record.partition(";")
            message = message.split("\n", 1)[0]
            if not _WANTED.search(message):
                continue
            fields = head.split(",")
            seconds = int(fields[2]) / 1e6 if len(fields) > 2 and fields[2].isdigit() else None
            lines.append(_stamped(seconds, message, boot))
    finally:
        os.close(fd)
    return {"source": "/dev/kmsg", "error": None, "lines": lines[-KEEP:]}


def _read_dmesg(boot: float | None) -> dict[str, Any]:
    try:
        result = subprocess.run(
            ["dmesg"], capture_output=True, text=True, errors="replace", timeout=BUDGET_S
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"source": "dmesg", "error": f"dmesg: {exc}", "lines": []}
    if result.returncode != 0:
        message = (result.stderr.strip().splitlines() or ["failed"])[-1]
        return {"source": "dmesg", "error": f"dmesg: {message}", "lines": []}
    lines = []
    for line in result.stdout.splitlines():
        if _WANTED.search(line):
            match = _DMESG_TIME.match(line)
            seconds = float(match.group(1)) if match else None
            lines.append(_stamped(seconds, _DMESG_TIME.sub("", line).strip(), boot))
    return {"source": "dmesg", "error": None, "lines": lines[-KEEP:]}


def _stamped(seconds: float | None, message: str, boot: float | None) -> tuple[float | None, str]:
    """A kernel line as dmesg prints it, and its epoch time when the boot time is known."""
    if seconds is None:
        return None, message
    return (boot + seconds if boot is not None else None), f"[{seconds:12.6f}] {message}"


def _cgroups(pids: tuple[int, ...], errors: list[str]) -> list[dict[str, Any]]:
    """The memory cgroup files of each process's cgroup (v1 and v2), each cgroup once."""
    found: dict[str, dict[str, Any]] = {}
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/cgroup").read_text()
        except OSError as exc:
            errors.append(f"/proc/{pid}/cgroup: {exc.strerror or exc}")
            continue
        for line in text.splitlines():
            number, controllers, path = line.split(":", 2)
            if "memory" in controllers.split(","):
                directory = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            elif number == "0" and controllers == "":
                directory = Path("/sys/fs/cgroup") / path.lstrip("/")
            else:
                continue
            if str(directory) in found or not directory.is_dir():
                continue
            files = {}
            for name in _CGROUP_FILES:
                try:
                    files[name] = (directory / name).read_text()
                except OSError:
                    continue
            if files:
                found[str(directory)] = {"path": str(directory), "files": files}
    return list(found.values())
