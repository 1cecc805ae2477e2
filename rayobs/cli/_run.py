"""``rayobs run``: start a program with auto mode on, nothing in it changed.

The analog of ``opentelemetry-instrument``: the command runs with
``RAYOBS_AUTO=1`` and rayobs's start-up directory first on ``PYTHONPATH``, so
every Python process it starts imports rayobs before its first line, and every
``@ray.remote`` function, actor class and Ray Data function it defines is
instrumented (see ``rayobs.auto``). The command keeps its stdin, stdout and
stderr; signals pass through and rayobs exits with its status, as
``rayobs launch`` does (the same supervisor).
"""

from __future__ import annotations

import enum
import os
from pathlib import Path

import click

from rayobs.cli._errors import fail, missing_extra


class Exporter(enum.Enum):
    """Where spans go (``RAYOBS_TRACE_EXPORTER``): ``--exporter KIND[:ARGUMENT]``."""

    JSONL = "jsonl"  # jsonl:DIR, one file of JSON lines per process
    CONSOLE = "console"
    OTLP = "otlp"

    @property
    def argument(self) -> str | None:
        """What must follow ``KIND:``, if anything."""
        return "DIR" if self is Exporter.JSONL else None


def check_exporter(spec: str) -> str:
    """Refuse a malformed ``--exporter`` now, before the program starts (exit 2).

    A ``jsonl`` directory is made absolute: the job's workers run elsewhere.
    """
    kind, colon, argument = spec.partition(":")
    try:
        exporter = Exporter(kind)
    except ValueError:
        choices = ", ".join(f"{e.value}:{e.argument}" if e.argument else e.value for e in Exporter)
        fail(f"--exporter {spec!r}: unknown kind {kind!r}; use one of {choices}")
    if exporter.argument and not argument:
        fail(
            f"--exporter {spec!r}: {exporter.value} needs a {exporter.argument}: "
            f"{exporter.value}:{exporter.argument}"
        )
    if not exporter.argument and colon:
        fail(f"--exporter {spec!r}: {exporter.value} takes no argument")
    if exporter is Exporter.OTLP:
        try:
            import opentelemetry.exporter.otlp  # noqa: F401
        except ImportError:
            fail(
                "--exporter otlp needs opentelemetry-exporter-otlp: "
                "pip install opentelemetry-exporter-otlp"
            )
    if exporter is Exporter.JSONL:
        return f"{exporter.value}:{Path(argument).absolute()}"
    return spec


@click.command(
    "run",
    context_settings={"help_option_names": ["-h", "--help"], "allow_interspersed_args": False},
)
@click.option("--trace", is_flag=True, help="Also a span per task and actor call (RAYOBS_TRACE=1).")
@click.option(
    "--exporter",
    metavar="SPEC",
    help="Where spans go: jsonl:DIR, console or otlp (RAYOBS_TRACE_EXPORTER); implies --trace.",
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(trace: bool, exporter: str | None, command: tuple[str, ...]) -> None:
    """Run COMMAND with every Ray task, actor and Ray Data function instrumented.

    No decorator and no code change: rayobs is imported before the program's
    first line (RAYOBS_AUTO=1 and a start-up directory first on PYTHONPATH, for
    the command and every Python process it starts), and ray.init hands the
    mode on to the job's workers. Functions and classes marked with
    @rayobs.auto.skip, and Ray's and rayobs's own, are left alone.

    Exit status, signals and output pass through, as with `rayobs launch`.

    \b
    Examples:
      rayobs run -- python job.py --input s3://bucket/day
      rayobs run --exporter jsonl:/tmp/spans -- python job.py
      ray job submit --address http://127.0.0.1:8265 -- rayobs run -- python job.py
    """
    from rayobs.integrations.auto import environment
    from rayobs.profiling._supervise import die_like, supervise

    if exporter is not None:
        exporter = check_exporter(exporter)
    if trace or exporter:
        try:
            import opentelemetry.sdk  # noqa: F401
        except ImportError:
            missing_extra("opentelemetry-sdk", "otel")
    env = environment(os.environ, trace=trace, exporter=exporter)
    try:
        outcome = supervise(command, env=env)
    except OSError as exc:
        fail(f"cannot run {command[0]}: {exc.strerror or exc}")
    die_like(outcome.returncode)
