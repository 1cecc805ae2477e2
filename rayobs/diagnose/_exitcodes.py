"""Exit statuses and signals decoded: names, numbers, ranges and the category of a bare status.

What each category means to a person (causes, next steps) is ``_meanings``'s.
Shells and container runtimes report "killed by signal N" as status ``128 + N``;
Python's ``subprocess`` reports it as ``-N``. Signal numbers are Linux's (where
Ray workers and Kubernetes containers run), not the host's, so a verdict does
not change with the machine that explains it.

>>> decode(137)
ExitStatus(code=137, signum=9, shell_convention=True, handled=False)
>>> decode(-11).signal
'SIGSEGV'
>>> parse_code(" -9 ")
-9
"""

from __future__ import annotations

from dataclasses import dataclass

from rayobs.diagnose._verdict import Category, Confidence

SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGKILL = range(1, 10)
SIGSEGV, SIGPIPE, SIGTERM = 11, 13, 15
MAX_SIGNAL = 64

_NAMES = {
    1: "SIGHUP",
    2: "SIGINT",
    3: "SIGQUIT",
    4: "SIGILL",
    5: "SIGTRAP",
    6: "SIGABRT",
    7: "SIGBUS",
    8: "SIGFPE",
    9: "SIGKILL",
    10: "SIGUSR1",
    11: "SIGSEGV",
    12: "SIGUSR2",
    13: "SIGPIPE",
    14: "SIGALRM",
    15: "SIGTERM",
    16: "SIGSTKFLT",
    17: "SIGCHLD",
    18: "SIGCONT",
    19: "SIGSTOP",
    20: "SIGTSTP",
    21: "SIGTTIN",
    22: "SIGTTOU",
    23: "SIGURG",
    24: "SIGXCPU",
    25: "SIGXFSZ",
    26: "SIGVTALRM",
    27: "SIGPROF",
    28: "SIGWINCH",
    29: "SIGIO",
    30: "SIGPWR",
    31: "SIGSYS",
}

# Signals with a category of their own; every other signal is Category.SIGNAL.
SIGNAL_CATEGORIES = {
    SIGINT: Category.INTERRUPTED,
    SIGTERM: Category.TERMINATED,
    SIGKILL: Category.KILLED,
    SIGSEGV: Category.SEGFAULT,
    SIGABRT: Category.ABORT,
    SIGBUS: Category.BUS_ERROR,
    SIGFPE: Category.FPE,
    SIGILL: Category.ILLEGAL_INSTRUCTION,
    SIGPIPE: Category.BROKEN_PIPE,
}


class InvalidExitCode(ValueError):
    """The text is not an exit status this module can explain."""


def signal_name(signum: int) -> str:
    """Linux name of a signal number: ``9`` -> ``"SIGKILL"``, ``40`` -> ``"SIGRTMIN+6"``."""
    if signum in _NAMES:
        return _NAMES[signum]
    if signum in (32, 33):  # reserved by glibc for its own threads, no name
        return f"SIG{signum}"
    if signum == 34:
        return "SIGRTMIN"
    if signum == MAX_SIGNAL:
        return "SIGRTMAX"
    return f"SIGRTMIN+{signum - 34}"


def signal_number(name: str) -> int | None:
    """``"SIGKILL"``, ``"KILL"`` or ``"9"`` -> ``9``; ``None`` when unknown."""
    text = name.strip().upper()
    if text.isdigit():
        number = int(text)
        return number if 1 <= number <= MAX_SIGNAL else None
    if not text.startswith("SIG"):
        text = "SIG" + text
    for number in range(1, MAX_SIGNAL + 1):
        if signal_name(number) == text:
            return number
    return None


@dataclass(frozen=True)
class ExitStatus:
    """An exit status decoded: the code as given and the signal it encodes, if any.

    ``shell_convention`` is true for ``128 + N``: a shell or container runtime
    reporting a signal, which a program could also fake with ``exit(128 + N)``.
    ``handled`` is true when the process caught signal ``signum`` and exited with
    ``code`` of its own accord (Ray's workers exit with 1 on SIGTERM): the code is
    the handler's, the cause the signal. ``decode`` never sets it; evidence does.
    """

    code: int
    signum: int | None
    shell_convention: bool
    handled: bool = False

    @property
    def signal(self) -> str | None:
        return signal_name(self.signum) if self.signum is not None else None


def parse_code(text: str) -> int:
    """Parse an exit status given as text; raise ``InvalidExitCode`` when it is none."""
    stripped = text.strip()
    try:
        code = int(stripped, 10)
    except ValueError:
        raise InvalidExitCode(
            f"not an exit status: {text!r} (expected an integer 0-255 or a signal code -1..-64)"
        ) from None
    check_code(code)
    return code


def check_code(code: int) -> None:
    """Raise ``InvalidExitCode`` unless ``code`` is 0-255 or -1..-64."""
    if not -MAX_SIGNAL <= code <= 255:
        raise InvalidExitCode(
            f"exit status out of range: {code} (POSIX statuses are 0-255; "
            f"Python reports a signal N as -N, N in 1..{MAX_SIGNAL})"
        )


def decode(code: int) -> ExitStatus:
    """Decode an exit status (``0..255`` or ``-1..-64``)."""
    check_code(code)
    if code < 0:
        return ExitStatus(code, -code, shell_convention=False)
    if 128 < code <= 128 + MAX_SIGNAL:
        return ExitStatus(code, code - 128, shell_convention=True)
    return ExitStatus(code, None, shell_convention=False)


def same_status(a: int, b: int) -> bool:
    """Whether two codes report the same exit: ``137`` and ``-9`` do."""
    first, second = decode(a), decode(b)
    if first.signum is not None or second.signum is not None:
        return first.signum == second.signum
    return first.code == second.code


_DEFAULT_CONFIDENCE: dict[Category, Confidence] = {
    Category.USAGE: Confidence.LIKELY,
    Category.NOT_EXECUTABLE: Confidence.LIKELY,
    Category.NOT_FOUND: Confidence.LIKELY,
}


def code_category(status: ExitStatus) -> tuple[Category, Confidence]:
    """Category of a bare exit status, before any evidence is looked at.

    ``128 + N`` is only *likely* a signal (a program can exit with it), ``-N``
    is certain; SIGKILL alone is always ambiguous.
    """
    if status.signum is not None:
        category = SIGNAL_CATEGORIES.get(status.signum, Category.SIGNAL)
        if category is Category.KILLED:
            return category, Confidence.AMBIGUOUS
        return category, Confidence.LIKELY if status.shell_convention else Confidence.CERTAIN
    if status.code == 0:
        category = Category.SUCCESS
    elif status.code == 2:
        category = Category.USAGE
    elif status.code == 126:
        category = Category.NOT_EXECUTABLE
    elif status.code == 127:
        category = Category.NOT_FOUND
    else:
        category = Category.ERROR
    return category, _DEFAULT_CONFIDENCE.get(category, Confidence.CERTAIN)


def describe_code(status: ExitStatus) -> str:
    """The status in words: ``"exit status 137 (128 + SIGKILL)"``, ``"signal -11 (SIGSEGV)"``."""
    if status.signum is None:
        return f"exit status {status.code}"
    if status.handled:
        return f"exit status {status.code} from its {status.signal} handler"
    if status.shell_convention:
        return f"exit status {status.code} (128 + {status.signal})"
    return f"exit status {status.code} (killed by {status.signal})"
