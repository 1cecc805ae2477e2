"""cProfile stats files (``Profile.dump_stats``, ``python -m cProfile -o``) as plain data.

The file is a ``marshal`` dump of ``{(file, line, function): (primitive calls,
calls, self seconds, cumulative seconds, callers)}``. It is read and checked
here rather than handed to ``pstats``, so a foreign file is refused with a
clear message instead of a ``marshal`` or ``KeyError`` traceback. Like any
``marshal`` data, read only files you produced yourself.
"""

from __future__ import annotations

import marshal
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from rayobs.profiling._mprof import ProfileFileError


class SortKey(str, Enum):
    """Orders for ``top``: time spent inside and below a function, inside only, or calls."""

    CUMULATIVE = "cumulative"
    SELF = "self"
    CALLS = "calls"


@dataclass(frozen=True)
class FunctionStats:
    """One profiled function."""

    file: str
    line: int
    function: str
    calls: int
    primitive_calls: int
    self_seconds: float
    cumulative_seconds: float

    @property
    def location(self) -> str:
        """``file:line(function)``, or ``{built-in ...}`` as pstats prints it."""
        if self.file == "~" and self.line == 0:
            return self.function if self.function.startswith("<") else f"{{{self.function}}}"
        return f"{self.file}:{self.line}({self.function})"


@dataclass(frozen=True)
class CpuProfile:
    """A whole stats file: every function, plus totals."""

    path: str
    functions: tuple[FunctionStats, ...]

    @property
    def total_calls(self) -> int:
        return sum(f.calls for f in self.functions)

    @property
    def total_seconds(self) -> float:
        """Time spent in profiled code: the sum of every function's self time."""
        return sum(f.self_seconds for f in self.functions)

    def top(
        self, n: int = 25, by: SortKey = SortKey.CUMULATIVE, match: str | None = None
    ) -> tuple[FunctionStats, ...]:
        """The ``n`` first functions by ``by``; ``match`` keeps locations containing it.

        >>> import cProfile, tempfile, os
        >>> prof = cProfile.Profile()
        >>> _ = prof.runcall(sorted, [3, 1, 2])
        >>> path = os.path.join(tempfile.mkdtemp(), "x.prof")
        >>> prof.dump_stats(path)
        >>> [f.function for f in read(path).top(5, match="sorted")]
        ['<built-in method builtins.sorted>']
        """
        rows = [f for f in self.functions if match is None or match in f.location]
        key = {
            SortKey.CUMULATIVE: lambda f: (f.cumulative_seconds, f.self_seconds),
            SortKey.SELF: lambda f: (f.self_seconds, f.cumulative_seconds),
            SortKey.CALLS: lambda f: (f.calls, f.cumulative_seconds),
        }[by]
        return tuple(sorted(rows, key=key, reverse=True)[:n])


def read(path: str | Path) -> CpuProfile:
    """Read a cProfile stats file; ``ProfileFileError`` if it is not one."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise ProfileFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data: Any = marshal.loads(raw)
    except (EOFError, ValueError, TypeError):
        raise ProfileFileError(f"{path}: not a cProfile stats file") from None
    if not isinstance(data, dict):
        raise ProfileFileError(f"{path}: not a cProfile stats file")
    functions = []
    for key, value in data.items():
        try:
            file, line, function = key
            primitive, calls, self_s, cumulative_s, _callers = value
            functions.append(
                FunctionStats(
                    str(file),
                    int(line),
                    str(function),
                    int(calls),
                    int(primitive),
                    float(self_s),
                    float(cumulative_s),
                )
            )
        except (TypeError, ValueError):
            raise ProfileFileError(f"{path}: not a cProfile stats file") from None
    return CpuProfile(str(path), tuple(functions))
