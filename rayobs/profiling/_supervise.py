"""Run a command as a child, pass signals through, sample its memory, return its status.

The child inherits stdin, stdout and stderr, so its output reaches the
terminal or the container log unchanged. Signals that ask a program to stop or
report (HUP, INT, QUIT, TERM, USR1, USR2) are forwarded to it, except when the
kernel already delivered them to the child: a terminal's Ctrl-C signals the
whole foreground process group, so forwarding it again would deliver it twice.
``ray start`` moves itself into a process group of its own, so there the
forwarded copy is the only one it gets.

A signal the caller ignores stays ignored, by rayobs and by the command, as
without rayobs: under ``nohup`` (HUP ignored) or started as ``cmd &`` from a
script (INT and QUIT ignored) the run survives the terminal's hangup or Ctrl-C.
The command's own children inherit that too: Ray's workers then never see the
interrupt of a plain ``ray.cancel``.

The loop waits with ``sigtimedwait`` (signals blocked, SIGCHLD included), which
gives each signal's sender and wakes the moment the child exits, and reaps any
orphan re-parented to it: as a container's PID 1 nobody else would.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rayobs.profiling._mprof import Recorder

FORWARDED = (
    signal.SIGHUP,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGTERM,
    signal.SIGUSR1,
    signal.SIGUSR2,
)
_SI_KERNEL = 0x80  # si_code of a signal the kernel raised itself (terminal keys, hangup)
_IDLE_WAKEUP = 1.0  # without memory sampling: a safety net only, SIGCHLD wakes the loop


@dataclass(frozen=True)
class Outcome:
    """How the child ended: ``returncode`` as ``subprocess`` reports it (-N: killed by N)."""

    returncode: int
    pid: int
    samples: int
    peak_mib: float
    forwarded: tuple[str, ...]
    started: float
    ended: float

    @property
    def signal(self) -> str | None:
        """``SIGTERM`` etc. when the child was killed by a signal."""
        if self.returncode >= 0:
            return None
        try:
            return signal.Signals(-self.returncode).name
        except ValueError:
            return f"signal {-self.returncode}"


def supervise(
    argv: Sequence[str],
    *,
    memory_out: TextIO | None = None,
    interval: float = 1.0,
    cmdline: str = "",
    name: str = "",
    on_start: Callable[[int], None] | None = None,
    env: Mapping[str, str] | None = None,
) -> Outcome:
    """Run ``argv`` to completion and return how it ended.

    With ``memory_out``, the child's memory and that of every descendant is
    written there in mprof's format every ``interval`` seconds; ``cmdline`` and
    ``name`` label the command in that file. ``on_start(pid)`` runs once the
    command has started. ``env`` replaces the environment it inherits. Raises
    ``OSError`` if it cannot be started.
    """
    early: list[int] = []
    passed = passed_on()

    def remember(signum: int, frame: FrameType | None) -> None:
        early.append(signum)

    with _signals_redirected(remember, passed):
        started = time.time()
        child = subprocess.Popen(list(argv), env=None if env is None else dict(env))
        if on_start is not None:
            on_start(child.pid)
        recorder: Recorder | None = None
        if memory_out is not None:
            from rayobs.profiling import _mprof  # imports memory_profiler

            recorder = _mprof.Recorder(
                child.pid, memory_out, cmdline or " ".join(argv), name or Path(argv[0]).name
            )
        with _blocked((*passed, signal.SIGCHLD)):
            forwarded = [_forward(child.pid, s, None) for s in early]
            status = _wait(child, recorder, interval, passed, forwarded)
    if recorder is not None:
        recorder.close()
    child.returncode = status  # reaped here, not by Popen
    return Outcome(
        returncode=status,
        pid=child.pid,
        samples=recorder.samples if recorder else 0,
        peak_mib=recorder.peak_mib if recorder else 0.0,
        forwarded=tuple(f for f in forwarded if f),
        started=started,
        ended=time.time(),
    )


def passed_on() -> tuple[signal.Signals, ...]:
    """The signals of ``FORWARDED`` that this process does not ignore."""
    return tuple(s for s in FORWARDED if signal.getsignal(s) != signal.SIG_IGN)


def _wait(
    child: subprocess.Popen[bytes],
    recorder: Recorder | None,
    interval: float,
    passed: Sequence[int],
    forwarded: list[str],
) -> int:
    waited = {*passed, signal.SIGCHLD}
    next_sample = time.monotonic()
    if recorder is not None:
        # Before the first reap: a command that is over at once (`true`) still
        # leaves one sample, of its zombie (0 MiB) at worst.
        recorder.sample()
        next_sample += interval
    while True:
        status = _reap(child.pid)
        if status is not None:
            return status
        if recorder is not None:
            now = time.monotonic()
            if now >= next_sample:
                recorder.sample()
                # Skip missed ticks instead of bursting after a stall.
                next_sample += interval * max(1, int((now - next_sample) // interval) + 1)
            timeout = max(0.0, next_sample - time.monotonic())
        else:
            timeout = _IDLE_WAKEUP
        info = signal.sigtimedwait(waited, timeout)
        if info is not None and info.si_signo != signal.SIGCHLD:
            forwarded.append(_forward(child.pid, info.si_signo, info.si_code))


def _forward(pid: int, signum: int, si_code: int | None) -> str:
    """Send ``signum`` on to the child unless the kernel already sent it to the child's group."""
    if si_code == _SI_KERNEL:
        with contextlib.suppress(OSError):
            if os.getpgid(pid) == os.getpgrp():
                return ""
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        return ""
    return signal.Signals(signum).name


def _reap(pid: int) -> int | None:
    """Collect every exited child; return the status of ``pid`` once it has exited."""
    result = None
    while True:
        try:
            reaped, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return result
        except OSError as exc:
            if exc.errno == errno.EINTR:
                continue
            raise
        if reaped == 0:
            return result
        if reaped == pid:
            result = os.waitstatus_to_exitcode(status)


@contextlib.contextmanager
def _signals_redirected(handler: signal._HANDLER, passed: Sequence[int]) -> Iterator[None]:
    """Catch the ``passed`` signals with ``handler`` and make SIGCHLD observable.

    The others keep their ignore: Linux queues a blocked signal even when it is ignored,
    so they are neither caught nor blocked, and the command inherits the ignore.
    """
    previous = {s: signal.signal(s, handler) for s in passed}
    # An inherited SIG_IGN for SIGCHLD would make the kernel reap the child for us.
    previous[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextlib.contextmanager
def _blocked(signals: Sequence[int]) -> Iterator[None]:
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        # Signals still pending would hit the restored handlers: take them first.
        while signal.sigtimedwait(signals, 0) is not None:
            pass
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def die_like(returncode: int) -> None:
    """Exit this process the way the child did: same code, or killed by the same signal.

    As PID 1 of a container the kernel ignores a fatal signal sent to itself,
    so the fallback is the shell's convention, 128 + N (what the container
    runtime reports for a killed PID 1 anyway).
    """
    if returncode >= 0:
        raise SystemExit(returncode)
    signum = -returncode
    with contextlib.suppress(ValueError, OSError):
        import resource

        # Dying of SIGSEGV/SIGABRT/SIGQUIT here must not leave a core file of the launcher.
        _, hard = resource.getrlimit(resource.RLIMIT_CORE)
        resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
    signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
    os.kill(os.getpid(), signum)
    time.sleep(0.1)  # delivery is asynchronous only in odd cases; give it a moment
    raise SystemExit(128 + signum)


def paths_writable(paths: Sequence[Path]) -> None:
    """Create the output files now, so a bad directory fails before the program starts."""
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a"):
            pass
