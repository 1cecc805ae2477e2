"""Watch a memory cgroup's ``oom_kill`` counter and write each increment down.

The kernel's OOM killer leaves its mark in two places that do not outlive a
pod: the node's kernel log and the cgroup's counter. The setup hook
(``rayobs.hooks``, ``RAYOBS_OOM_WATCH_INTERVAL``) starts a ``Watcher`` in every
worker; one worker per cgroup (the holder of an ``flock``) samples the counter
and the cgroup's processes, and when the counter rises it appends a record to
``rayobs-oom-<cgroup hash>.log`` in the session's logs directory: when, which
cgroup, the counter before and after, and the processes that were gone at that
moment. ``rayobs diagnose --session-dir`` reads these records on a copied
session (``parse_record``).

The victim is often the watcher itself: the lock then passes to another
worker, which finds the counter above the value stored in
``rayobs-oom-<hash>.state`` and the processes of the stored snapshot gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FILE_PREFIX = "rayobs-oom-"
V1_ROOT = Path("/sys/fs/cgroup/memory")
V2_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class OomRecord:
    """One rise of a cgroup's ``oom_kill`` counter, as written by a watcher."""

    time: float  # epoch seconds, when the watcher noticed
    cgroup: str
    before: int
    after: int
    gone: tuple[tuple[int, str], ...]  # (pid, command name) gone since the last sample
    node: str | None = None

    def line(self) -> str:
        return json.dumps(
            {
                "time": self.time,
                "cgroup": self.cgroup,
                "oom_kill": [self.before, self.after],
                "gone": [list(item) for item in self.gone],
                "node": self.node,
            },
            separators=(",", ":"),
        )


def parse_record(line: str) -> OomRecord | None:
    """A record line back into an ``OomRecord``; ``None`` for anything else."""
    try:
        data = json.loads(line)
        before, after = (int(v) for v in data["oom_kill"])
        gone = tuple((int(pid), str(name)) for pid, name in data["gone"])
        return OomRecord(
            float(data["time"]), str(data["cgroup"]), before, after, gone, data.get("node")
        )
    except (ValueError, KeyError, TypeError):
        return None


def own_memory_cgroup(pid: str = "self") -> tuple[Path, str] | None:
    """This process's memory cgroup directory and its counter file (v1 or v2)."""
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        number, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            directory, name = V1_ROOT / path.lstrip("/"), "memory.oom_control"
        elif number == "0" and controllers == "":
            directory, name = V2_ROOT / path.lstrip("/"), "memory.events"
        else:
            continue
        if (directory / name).exists():
            return directory, name
    return None


def read_counter(path: Path) -> int:
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill":
            return int(value)
    return 0


class Watcher:
    """Samples one cgroup every ``interval`` seconds while it holds the cgroup's lock."""

    def __init__(self, cgroup: Path, counter: str, logs: Path, node: str | None = None) -> None:
        self.cgroup = cgroup
        self.counter = cgroup / counter
        self.node = node
        stem = FILE_PREFIX + hashlib.sha1(str(cgroup).encode()).hexdigest()[:12]
        self.log = logs / f"{stem}.log"
        self.state = logs / f"{stem}.state"
        self.lock = logs / f"{stem}.lock"
        self._fd: int | None = None
        self._names: dict[int, str] = {}
        self._last: int | None = None
        self._stop = threading.Event()

    def start(self, interval: float) -> threading.Thread:
        thread = threading.Thread(
            target=self._run, args=(interval,), name="rayobs-oom-watch", daemon=True
        )
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(interval)

    def holds(self) -> bool:
        """Take the cgroup's lock if free (a dead holder's lock is free again)."""
        if self._fd is not None:
            return True
        fd = os.open(self.lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def tick(self) -> OomRecord | None:
        """One sample; the record written, if the counter rose."""
        if not self.holds():
            return None
        count = read_counter(self.counter)
        pids = self._pids()
        if self._last is None:  # just took over: continue from what the last holder saw
            stored = self._stored()
            self._last = int(stored.get("oom_kill", count))
            self._names = {int(k): str(v) for k, v in stored.get("pids", {}).items()}
        record = None
        if count > self._last:
            gone = tuple(sorted((p, n) for p, n in self._names.items() if p not in pids))
            now = round(time.time(), 3)
            record = OomRecord(now, str(self.cgroup), self._last, count, gone, self.node)
            with self.log.open("a", encoding="utf-8") as stream:
                stream.write(record.line() + "\n")
        # Ray renames a worker when it takes a task (ray::IDLE -> ray::f): read names each time.
        names = {p: _comm(p) for p in pids}
        if count != self._last or names != self._names:
            self._names = names
            self._last = count
            self._store()
        return record

    def _pids(self) -> set[int]:
        return {int(p) for p in (self.cgroup / "cgroup.procs").read_text().split()}

    def _stored(self) -> dict[str, Any]:
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(self.state.read_text())
            if isinstance(data, dict):
                return data
        return {}

    def _store(self) -> None:
        tmp = self.state.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"oom_kill": self._last, "pids": self._names}))
        os.replace(tmp, self.state)


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"
