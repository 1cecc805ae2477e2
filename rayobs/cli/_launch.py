"""``rayobs launch``: run any command under memory sampling and/or cProfile.

The command keeps its stdin, stdout and stderr; rayobs writes only a few
``rayobs launch:`` lines to stderr. Signals are passed on (those the caller
ignores, as under ``nohup``, stay ignored for both), and rayobs exits with the
command's status, or dies of the same signal.
"""

from __future__ import annotations

import os
import shlex
import socket
import time
from pathlib import Path

import click

from rayobs.cli._errors import fail, missing_extra
from rayobs.cli._options import CONTEXT_SETTINGS


def _short(text: str, limit: int = 80) -> str:
    """One line, at most ``limit`` characters: commands can be long ``python -c`` programs."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _say(message: str) -> None:
    click.echo(f"rayobs launch: {message}", err=True)


@click.command(
    "launch",
    context_settings={**CONTEXT_SETTINGS, "allow_interspersed_args": False},
)
@click.option("--memory", is_flag=True, help="Sample the memory of the command and its children.")
@click.option("--cpu", is_flag=True, help="Run the command (a Python program) under cProfile.")
@click.option(
    "--output-dir",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where the profiles go (created if missing).",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.01, max=3600),
    default=1.0,
    show_default=True,
    metavar="S",
    help="Seconds between memory samples.",
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def launch(
    memory: bool, cpu: bool, output_dir: Path, interval: float, command: tuple[str, ...]
) -> None:
    """Run COMMAND under profilers; with neither flag, memory, plus CPU for Python programs.

    --memory writes memory_profiler's mprof format: the command's resident
    memory plus every descendant's (Ray's raylet, GCS, workers...), each also
    on its own. --cpu profiles the main thread of a Python program: a console
    script such as `ray`, `python job.py`, `python -m pkg` or `python -c CODE`.

    Exit status, signals (Ctrl-C, SIGTERM from Kubernetes) and output pass
    through; a signal ignored when rayobs starts (nohup, `cmd &` in a script)
    stays ignored, by rayobs and the command alike. Read the files with
    `rayobs profile report FILE` and `rayobs profile plot FILE -o memory.png`.

    \b
    Examples:
      rayobs launch --memory --cpu -o /tmp/profiles -- ray start --head --block
      rayobs launch --memory --interval 0.1 -- python job.py
    """
    from rayobs.profiling._command import LaunchError, resolve
    from rayobs.profiling._supervise import die_like, paths_writable, supervise

    default = not memory and not cpu
    if default:
        memory = True
    if memory:
        try:
            import memory_profiler  # noqa: F401
        except ImportError:
            missing_extra("memory-profiler", "profiling")
    try:
        resolved = resolve(command)
    except LaunchError as exc:
        fail(str(exc))
    if default:
        cpu = resolved.python is not None
    if cpu and resolved.python is None:
        fail(
            f"--cpu needs a Python program; {resolved.executable} is not one "
            "(use --memory alone, or name the interpreter: python script.py)"
        )
    stem = "-".join(
        (resolved.label, time.strftime("%Y%m%d-%H%M%S"), socket.gethostname(), str(os.getpid()))
    )
    memory_path = (output_dir / f"{stem}.mprof.dat").absolute() if memory else None
    cpu_path = (output_dir / f"{stem}.prof").absolute() if cpu else None
    try:
        paths_writable([p for p in (memory_path, cpu_path) if p is not None])
    except OSError as exc:
        fail(f"cannot write profiles to {output_dir}: {exc.strerror or exc}")
    if cpu_path is not None:
        cpu_path.unlink()  # written by the program at exit; absent means it never got there
    argv = (
        resolved.python.under_cprofile(cpu_path)
        if cpu_path is not None and resolved.python is not None
        else resolved.argv
    )
    shown = _short(shlex.join(command))

    def started(pid: int) -> None:
        if memory_path is not None:
            _say(f"memory of `{shown}` and its children every {interval:g}s -> {memory_path}")
        if cpu_path is not None:
            _say(f"CPU profile of `{shown}` (main thread) -> {cpu_path}")

    try:
        if memory_path is not None:
            with memory_path.open("w") as out:
                outcome = supervise(
                    argv,
                    memory_out=out,
                    interval=interval,
                    cmdline=shlex.join(command),
                    name=resolved.label,
                    on_start=started,
                )
        else:
            outcome = supervise(argv, on_start=started)
    except OSError as exc:
        if memory_path is not None:
            memory_path.unlink(missing_ok=True)  # the program never ran: no empty profile
        fail(f"cannot run {command[0]}: {exc.strerror or exc}")

    if memory_path is not None:
        _say(
            f"wrote {memory_path} ({outcome.samples} sample{'' if outcome.samples == 1 else 's'}, "
            f"peak {outcome.peak_mib:,.1f} MiB); "
            f"rayobs profile report {shlex.quote(str(memory_path))}"
        )
    if cpu_path is not None:
        if cpu_path.exists():
            _say(f"wrote {cpu_path}; rayobs profile report {shlex.quote(str(cpu_path))}")
        else:
            _say(f"no CPU profile: `{shown}` ended before it could write {cpu_path}")
    if outcome.signal is not None:
        _say(f"`{shown}` was killed by {outcome.signal}")
    elif outcome.returncode != 0:
        _say(f"`{shown}` exited with status {outcome.returncode}")
    die_like(outcome.returncode)
