"""Run a Python program under cProfile, as if it had been started directly.

``rayobs launch --cpu`` executes this file *by path* with the interpreter that
would have run the program (the console script's shebang, or the ``python`` the
user named), so it imports only the standard library: rayobs need not be
installed in that interpreter.

    python _cprofile_run.py --output OUT.prof --kind KIND -- TARGET [ARG ...]

``KIND`` is ``script`` (a file), ``module`` (``python -m``), ``code``
(``python -c``) or ``console`` (a console script such as ``ray``: its entry
point is loaded from the interpreter's package metadata and called, exactly
what the generated wrapper does). ``sys.argv`` and ``sys.path[0]`` are set as
Python would set them for the program.

The stats are written on every way out the runner can see: a normal return,
``sys.exit``, an exception, SIGTERM/SIGHUP while the program has not installed
its own handler, and ``os._exit`` (``ray start --block`` leaves through
``os._exit(1)`` when its processes are stopped by ``ray stop``). The exit status
is the program's own: an uncaught exception exits 1 with the program's
traceback, and a signal the program does not handle still kills the process
with that signal after the dump. Only the main thread is profiled.
"""

from __future__ import annotations

import builtins
import cProfile
import os
import runpy
import signal
import sys
import types
from types import FrameType, TracebackType
from typing import Any, NoReturn

KINDS = ("script", "module", "code", "console")


class _Dumper:
    """Owns the profiler and writes its stats once, atomically."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.profiler = cProfile.Profile()
        self.done = False

    def dump(self) -> None:
        if self.done:
            return
        self.done = True
        self.profiler.disable()
        tmp = f"{self.path}.tmp{os.getpid()}"
        try:
            self.profiler.dump_stats(tmp)
            os.replace(tmp, self.path)
        except OSError as exc:  # the program's own exit status matters more
            sys.stderr.write(f"rayobs launch: could not write {self.path}: {exc}\n")


def _parse(argv: list[str]) -> tuple[str, str, list[str]]:
    output = kind = None
    i = 0
    while i < len(argv) and argv[i] != "--":
        if argv[i] == "--output" and i + 1 < len(argv):
            output = argv[i + 1]
        elif argv[i] == "--kind" and i + 1 < len(argv):
            kind = argv[i + 1]
        else:
            break
        i += 2
    rest = argv[i + 1 :] if i < len(argv) and argv[i] == "--" else []
    if not output or kind not in KINDS or not rest:
        sys.stderr.write(
            "usage: _cprofile_run.py --output FILE --kind {script,module,code,console} "
            "-- TARGET [ARG ...]\n"
        )
        raise SystemExit(2)
    return output, kind, rest


def _console_entry_point(path: str) -> Any:
    """The ``console_scripts`` entry point that the wrapper at ``path`` calls, if any.

    Matched by name and by the module the wrapper imports, so a user's own
    script that happens to share a console script's name runs as a script.
    """
    from importlib.metadata import entry_points

    name = os.path.basename(path)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read(65536)
    except OSError:
        return None
    for ep in entry_points(group="console_scripts", name=name):
        if ep.module in text:
            return ep
    return None


def _run(kind: str, target: str, args: list[str], profiler: cProfile.Profile) -> Any:
    """Run the program in ``__main__``; return what a console script's function returned.

    Profiling starts right before the program's own code, so the stats show the
    program (and, for ``-m``, runpy), not this runner.
    """
    if kind == "module":
        sys.argv = [target, *args]  # runpy replaces argv[0] with the module's path
        sys.path[0] = os.getcwd()
        profiler.enable()
        runpy.run_module(target, run_name="__main__", alter_sys=True)
        return None
    if kind == "console":
        sys.argv = [target, *args]
        sys.path[0] = os.path.dirname(os.path.realpath(target))
        ep = _console_entry_point(target)
        if ep is not None:
            # What the generated wrapper does: `sys.exit(main())`, import included.
            profiler.enable()
            return ep.load()()
    if kind == "code":
        sys.argv = ["-c", *args]
        sys.path[0] = ""
        code = compile(target, "<string>", "exec")
    else:  # a script, or a console-script-like file without a matching entry point
        sys.argv = [target, *args]
        sys.path[0] = os.path.dirname(os.path.realpath(target))
        with open(target, "rb") as f:
            code = compile(f.read(), target, "exec")
    # A fresh __main__, as Python gives the program: this runner's globals stay apart.
    module = types.ModuleType("__main__")
    module.__dict__.update(__builtins__=builtins, __file__=None if kind == "code" else target)
    if kind == "code":
        del module.__dict__["__file__"]
    sys.modules["__main__"] = module
    profiler.enable()
    exec(code, module.__dict__)
    return None


def _own_frames(tb: TracebackType | None) -> TracebackType | None:
    """Drop this runner's frames (and runpy's) from the front of a traceback."""
    skip = {__file__, runpy.__file__, "<frozen runpy>"}
    while tb is not None and tb.tb_frame.f_code.co_filename in skip:
        tb = tb.tb_next
    return tb


def _print_uncaught(exc: BaseException) -> None:
    """Print ``exc`` as Python would for the program, without the runner's frames."""
    tb = _own_frames(exc.__traceback__)
    sys.excepthook(type(exc), exc.with_traceback(tb), tb)


def _die_by(signum: int) -> NoReturn:
    """Leave the way the program would have: killed by ``signum``."""
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)  # only reached where the signal is not fatal (PID 1)


def main(argv: list[str]) -> NoReturn:
    output, kind, rest = _parse(argv)
    target, args = rest[0], rest[1:]
    dumper = _Dumper(output)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        dumper.dump()
        _die_by(signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        # An inherited "ignore" (nohup) stays; a handler the program installs later wins,
        # and its usual way out (sys.exit) reaches the dump below.
        if signal.getsignal(signum) == signal.SIG_DFL:
            signal.signal(signum, on_signal)

    real_exit = os._exit

    def exit_after_dump(status: int) -> NoReturn:
        dumper.dump()
        real_exit(status)

    os._exit = exit_after_dump
    try:
        returned = _run(kind, target, args, dumper.profiler)
    except SystemExit:
        dumper.dump()
        raise
    except KeyboardInterrupt as exc:
        dumper.dump()
        _print_uncaught(exc)
        _die_by(signal.SIGINT)
    except BaseException as exc:
        dumper.dump()
        _print_uncaught(exc)
        raise SystemExit(1) from None
    dumper.dump()
    raise SystemExit(returned)


if __name__ == "__main__":
    main(sys.argv[1:])
