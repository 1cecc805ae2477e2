"""A memory-limited cgroup for the tests, created and always removed by the harness.

The kernel's OOM killer then acts for real inside it: a Ray node's raylet and
its workers are moved in, a worker allocates past the limit, the kernel kills
it. cgroup v1 (``/sys/fs/cgroup/memory/NAME``: ``memory.limit_in_bytes``) and
cgroup v2 (``/sys/fs/cgroup/NAME``: ``memory.max``) are both handled. Needs root.

Removal moves every process still inside back to the cgroup the test process
started in, then removes the directory; ``sweep_stale`` removes what a killed
test run left behind (its name carries the pid of the run that made it).
Each cgroup a run makes has a name of its own, so one test never removes another's.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

PREFIX = "rayobs-test-"  # rayobs-test-<pid of the test run>-<serial>
_serial = itertools.count(1)
V1_ROOT = Path("/sys/fs/cgroup/memory")
V2_ROOT = Path("/sys/fs/cgroup")


def memory_root() -> tuple[Path, int] | None:
    """Where the memory controller is mounted and its version, or ``None``."""
    if (V1_ROOT / "memory.limit_in_bytes").exists():
        return V1_ROOT, 1
    controllers = V2_ROOT / "cgroup.controllers"
    if controllers.exists() and "memory" in controllers.read_text().split():
        return V2_ROOT, 2
    return None


def unusable() -> str | None:
    """Why a memory cgroup cannot be made here, or ``None`` when it can."""
    if memory_root() is None:
        return "no cgroup memory controller mounted at /sys/fs/cgroup"
    if os.geteuid() != 0:
        return "creating a memory cgroup needs root"
    return None


def _home(root: Path, version: int) -> Path:
    """The cgroup this process is in: where moved processes go back to."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        number, controllers, path = line.split(":", 2)
        if (version == 1 and "memory" in controllers.split(",")) or (
            version == 2 and number == "0"
        ):
            home = root / path.lstrip("/")
            if home.is_dir():
                return home
    return root


@dataclass
class MemoryCgroup:
    """One memory cgroup made by this test run."""

    path: Path
    version: int
    home: Path

    @classmethod
    def create(cls, limit_bytes: int) -> MemoryCgroup:
        found = memory_root()
        if found is None:
            raise RuntimeError("no cgroup memory controller")
        root, version = found
        path = root / f"{PREFIX}{os.getpid()}-{next(_serial)}"
        path.mkdir()
        cgroup = cls(path, version, _home(root, version))
        try:
            limit = "memory.limit_in_bytes" if version == 1 else "memory.max"
            (path / limit).write_text(str(limit_bytes))
            if version == 2:
                with contextlib.suppress(OSError):
                    (path / "memory.swap.max").write_text("0")
        except BaseException:
            cgroup.remove()
            raise
        return cgroup

    def add(self, pid: int) -> None:
        """Move ``pid`` (the whole process) into the cgroup; a gone process is skipped."""
        with contextlib.suppress(ProcessLookupError):
            (self.path / "cgroup.procs").write_text(str(pid))

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        except FileNotFoundError:
            return []

    def oom_kills(self) -> int:
        """The cgroup's ``oom_kill`` counter."""
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        for line in (self.path / name).read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def remove(self, timeout: float = 10.0) -> None:
        """Move every process back home and remove the cgroup (idempotent)."""
        deadline = time.monotonic() + timeout
        while self.path.exists():
            for pid in self.pids():
                with contextlib.suppress(OSError):
                    (self.home / "cgroup.procs").write_text(str(pid))
            try:
                self.path.rmdir()
            except FileNotFoundError:
                return
            except OSError:  # EBUSY: a process was still exiting
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def sweep_stale() -> list[Path]:
    """Remove the cgroups earlier runs left behind (their run's pid is gone).

    What is still inside one belonged to that dead run's cluster: it is killed.
    """
    found = memory_root()
    if found is None:
        return []
    root, version = found
    removed: list[Path] = []
    for path in root.glob(f"{PREFIX}*"):
        owner = path.name[len(PREFIX) :].split("-")[0]
        if not owner.isdigit() or Path(f"/proc/{owner}").exists():
            continue
        stale = MemoryCgroup(path, version, _home(root, version))
        for pid in stale.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        stale.remove()
        removed.append(path)
    return removed
