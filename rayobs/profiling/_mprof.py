"""mprof ``.dat`` files: written with memory_profiler while a command runs, read back for reports.

The format is memory_profiler's own, so ``mprof plot FILE`` works too::

    CMDLINE ray start --head --block
    MEM 433.792969 1795451173.5365       <- the command plus all descendants, MiB, epoch s
    CHLD 30446 46.062500 1795451173.5377  <- one descendant: pid, MiB, epoch s
    NAME 30446 raylet                    <- rayobs: what that pid is (mprof ignores it)

``MEM`` sums the resident set sizes (RSS) of every process, so pages shared
between processes (Ray's object store in ``/dev/shm``, shared libraries) are
counted once per process that touches them.
"""

from __future__ import annotations

import io
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from rayobs._errors import RayobsError

_NAME_REFRESH = 10  # re-read process names every N samples: Ray workers retitle themselves


class ProfileFileError(RayobsError, ValueError):
    """A file is not a readable cProfile or mprof profile."""


class Recorder:
    """Append one mprof sample of ``pid`` and its descendants per ``sample()`` call."""

    def __init__(self, pid: int, out: TextIO, cmdline: str, name: str = "") -> None:
        import memory_profiler  # the optional extra: imported only when sampling

        self._memory_usage = memory_profiler.memory_usage
        self._pid = pid
        self._out = out
        # The supervised process is named after the user's command: under --cpu it is
        # the profiling runner, whose own name would say nothing.
        self._names: dict[int, str] = {pid: name} if name else {}
        self._capture = _ChildCapture(out)
        self.samples = 0
        out.write(f"CMDLINE {' '.join(cmdline.split())}\n")  # one line, whatever -c held
        if name:
            out.write(f"NAME {pid} {' '.join(name.split())}\n")
        out.flush()

    def sample(self) -> None:
        """Write one sample; a process that vanishes mid-sample is simply not in it."""
        self._capture.pids.clear()
        try:
            self._memory_usage(
                proc=self._pid,
                interval=0,
                include_children=True,
                multiprocess=True,
                stream=self._capture,
                backend="psutil",
            )
        except Exception:  # the child exited between two reads of /proc
            return
        self.samples += 1
        refresh = self.samples % _NAME_REFRESH == 1
        for pid in self._capture.pids:
            if pid and (refresh or pid not in self._names):
                name = process_name(pid)
                if name and self._names.get(pid) != name:
                    self._names[pid] = name
                    self._out.write(f"NAME {pid} {' '.join(name.split())}\n")
        # Flushed every sample: a SIGKILLed launcher still leaves a readable file.
        self._out.flush()

    @property
    def peak_mib(self) -> float:
        return self._capture.peak_mib

    def close(self) -> None:
        self._out.flush()


class _ChildCapture(io.TextIOBase):
    """Pass writes through, noting the pids on ``CHLD`` lines and the highest ``MEM``."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self.pids: list[int] = []
        self.peak_mib = 0.0

    def write(self, text: str) -> int:
        if text.startswith("CHLD "):
            pid = text.split(" ", 2)[1]
            if pid.isdigit():
                self.pids.append(int(pid))
        elif text.startswith("MEM "):
            self.peak_mib = max(self.peak_mib, float(text.split()[1]))
        return self._out.write(text)

    def flush(self) -> None:
        self._out.flush()


def process_name(pid: int) -> str:
    """A readable name: ``raylet``, ``ray::IDLE``, or the script a Python process runs."""
    try:
        import psutil

        proc = psutil.Process(pid)
        name = str(proc.name())
        if not name.startswith("python"):
            return name
        cmdline = [str(a) for a in proc.cmdline()[1:]]
    except Exception:  # gone, or not ours to read
        return ""
    for i, arg in enumerate(cmdline):
        if arg == "-m" and i + 1 < len(cmdline):
            return f"{name} -m {cmdline[i + 1]}"
        if arg == "-c" and i + 1 < len(cmdline):
            code = " ".join(cmdline[i + 1].split())
            return f"{name} -c '{code[:30]}{'...' if len(code) > 30 else ''}'"
        if not arg.startswith("-"):
            return os.path.basename(arg)
    return name


@dataclass(frozen=True)
class Series:
    """One process over time: ``times`` (s since the first sample) and ``mib``."""

    pid: int
    name: str
    times: tuple[float, ...]
    mib: tuple[float, ...]

    @property
    def peak_mib(self) -> float:
        return max(self.mib, default=0.0)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.pid})" if self.name else f"pid {self.pid}"


@dataclass(frozen=True)
class MemoryProfile:
    """An mprof file: total memory over time, the main process, and each descendant."""

    path: str
    cmdline: str
    start: float
    total: Series
    main: Series
    children: tuple[Series, ...]

    @property
    def duration(self) -> float:
        return self.total.times[-1] if self.total.times else 0.0

    @property
    def samples(self) -> int:
        return len(self.total.times)


def read(path: str | Path) -> MemoryProfile:
    """Parse an mprof ``.dat`` file (memory_profiler's format; ``NAME`` lines optional).

    >>> import tempfile, os
    >>> f = tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False)
    >>> _ = f.write("CMDLINE sleep 1\\nMEM 10.0 100.0\\nCHLD 7 4.0 100.0\\nMEM 12.5 101.0\\n")
    >>> f.close()
    >>> profile = read(f.name)
    >>> profile.total.peak_mib, profile.duration, profile.main.mib, profile.children[0].pid
    (12.5, 1.0, (6.0, 12.5), 7)
    >>> os.unlink(f.name)
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise ProfileFileError(f"{path}: not an mprof .dat file (binary content)") from None
    except OSError as exc:
        raise ProfileFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse(text, str(path))


def parse(text: str, path: str = "<text>") -> MemoryProfile:
    cmdline = ""
    totals: list[tuple[float, float]] = []
    child_sum: list[float] = []
    children: dict[int, list[tuple[float, float]]] = defaultdict(list)
    names: dict[int, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        field, _, value = line.partition(" ")
        try:
            if field == "CMDLINE":
                cmdline = value.strip()
            elif field == "MEM":
                mem, ts = value.split()[:2]
                totals.append((float(ts), float(mem)))
                child_sum.append(0.0)
            elif field == "CHLD":
                pid, mem, ts = value.split()[:3]
                if int(pid) == 0:  # memory_profiler's marker for "could not read a child"
                    continue
                children[int(pid)].append((float(ts), float(mem)))
                if child_sum:
                    child_sum[-1] += float(mem)
            elif field == "NAME":
                pid, name = value.split(" ", 1)
                names[int(pid)] = name.strip()
            elif field != "FUNC":
                raise ValueError(f"unknown record {field!r}")
        except ValueError as exc:
            raise ProfileFileError(
                f"{path}: not an mprof .dat file (line {number}: {exc})"
            ) from None
    if not totals:
        raise ProfileFileError(f"{path}: no memory samples (MEM lines) in this file")
    start = totals[0][0]
    main_pid = _main_pid(names, children)
    total = Series(0, "total", _rel(totals, start), tuple(m for _, m in totals))
    main = Series(
        main_pid,
        names.get(main_pid, ""),
        total.times,
        tuple(round(max(0.0, t - c), 6) for (_, t), c in zip(totals, child_sum, strict=True)),
    )
    series = tuple(
        sorted(
            (
                Series(pid, names.get(pid, ""), _rel(points, start), tuple(m for _, m in points))
                for pid, points in children.items()
            ),
            key=lambda s: -s.peak_mib,
        )
    )
    return MemoryProfile(str(path), cmdline, start, total, main, series)


def _main_pid(names: dict[int, str], children: dict[int, Any]) -> int:
    """The supervised process: the one with a ``NAME`` that never appears as a child."""
    own = [pid for pid in names if pid not in children]
    return own[0] if own else 0


def _rel(points: list[tuple[float, float]], start: float) -> tuple[float, ...]:
    return tuple(round(ts - start, 4) for ts, _ in points)
