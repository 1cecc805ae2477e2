"""What a diagnosis returns: a frozen ``Verdict`` with its evidence.

A verdict says what an exit means (``category``), how sure we are
(``confidence``), and which lines it rests on (``evidence``). It never prints:
renderers turn it into text or JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Category(str, Enum):
    """What kind of exit it was. The value is the stable name used in JSON."""

    SUCCESS = "success"
    ERROR = "error"
    USAGE = "usage"
    NOT_EXECUTABLE = "not_executable"
    NOT_FOUND = "not_found"
    INTERRUPTED = "interrupted"
    TERMINATED = "terminated"
    KILLED = "killed"
    OOM_KILLED = "oom_killed"
    SEGFAULT = "segfault"
    ABORT = "abort"
    BUS_ERROR = "bus_error"
    FPE = "fpe"
    ILLEGAL_INSTRUCTION = "illegal_instruction"
    BROKEN_PIPE = "broken_pipe"
    SIGNAL = "signal"


class Confidence(str, Enum):
    """How far the evidence carries the verdict.

    ``certain``: the cause is recorded for this very process (a Kubernetes
    ``OOMKilled`` reason, a kernel line naming its pid, a crash trace in its own
    log, an exit status the kernel reported). ``likely``: the usual meaning of
    the code, or evidence that cannot be tied to this process. ``ambiguous``:
    several causes fit and nothing tells them apart.
    """

    CERTAIN = "certain"
    LIKELY = "likely"
    AMBIGUOUS = "ambiguous"


@dataclass(frozen=True)
class Evidence:
    """One line a verdict rests on, and where it was read.

    >>> Evidence("dmesg:812", "Out of memory: Killed process 4242 (python)")
    Evidence(source='dmesg:812', line='Out of memory: Killed process 4242 (python)')
    """

    source: str
    line: str


@dataclass(frozen=True)
class Verdict:
    """The explanation of one exit.

    ``code`` is the exit status as given (``None`` when no status was recorded,
    as for a Ray worker that vanished); ``signal`` the signal name when the
    status or the evidence names one.
    """

    code: int | None
    signal: str | None
    category: Category
    summary: str
    likely_causes: tuple[str, ...]
    next_steps: tuple[str, ...]
    evidence: tuple[Evidence, ...]
    confidence: Confidence
