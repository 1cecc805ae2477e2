"""Profiles of whole programs and of single calls: record, read, report, plot.

- ``rayobs launch`` runs a command under memory sampling (memory_profiler's
  mprof format, child processes included) and/or cProfile.
- ``load(path)`` reads either kind of file back as a frozen ``CpuProfile`` or
  ``MemoryProfile``; ``rayobs profile report`` and ``rayobs profile plot`` show them.
- ``peak_memory_increase(fn, *args)`` measures one call.

Importing this package imports neither memory_profiler nor matplotlib.
"""

from __future__ import annotations

from pathlib import Path

from rayobs.calls._memory import peak_memory_increase
from rayobs.profiling._mprof import MemoryProfile, ProfileFileError, Series
from rayobs.profiling._pstats import CpuProfile, FunctionStats, SortKey

__all__ = [
    "CpuProfile",
    "FunctionStats",
    "MemoryProfile",
    "ProfileFileError",
    "Series",
    "SortKey",
    "load",
    "peak_memory_increase",
]

_MPROF_RECORDS = (b"CMDLINE ", b"MEM ", b"CHLD ", b"FUNC ", b"NAME ")


def load(path: str | Path) -> CpuProfile | MemoryProfile:
    """Read a cProfile stats file or an mprof ``.dat`` file, whichever ``path`` is.

    Raises ``ProfileFileError`` for anything else (missing, unreadable, foreign).
    """
    from rayobs.profiling import _mprof, _pstats

    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as exc:
        raise ProfileFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not head:
        raise ProfileFileError(f"{path}: empty file, not a profile")
    if head.startswith(_MPROF_RECORDS):
        return _mprof.read(path)
    try:
        return _pstats.read(path)
    except ProfileFileError:
        raise ProfileFileError(
            f"{path}: neither a cProfile stats file nor an mprof .dat file"
        ) from None
