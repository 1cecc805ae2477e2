"""The ``rayobs`` command line.

Commands are loaded lazily from their own modules (``rayobs.cli._<name>``), so
``rayobs exit-code`` starts fast during an incident and an optional extra that
is not installed only affects the command that needs it.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from rayobs._version import __version__
from rayobs.cli._errors import one_line_errors
from rayobs.cli._options import CONTEXT_SETTINGS

# command name -> (module, attribute, one-line help shown before the module loads)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "dashboards": (
        "rayobs.cli._dashboards",
        "dashboards",
        "Grafana dashboards: build from the catalog or your handles, import, preview as PNG.",
    ),
    "demo": (
        "rayobs.cli._demo",
        "demo",
        "Run an instrumented workload on a local Ray and show what rayobs sees.",
    ),
    "diagnose": (
        "rayobs.cli._diagnose",
        "diagnose",
        "Find every dead worker of a Ray session and say why each died.",
    ),
    "exit-code": (
        "rayobs.cli._exit_code",
        "exit_code",
        "Explain an exit status: signals, OOM kills, K8s reasons.",
    ),
    "inspect": ("rayobs.cli._inspect", "inspect_command", "Name what Ray cannot pickle, by path."),
    "k8s": (
        "rayobs.cli._k8s",
        "k8s",
        "Kubernetes manifests: PodMonitors, alert rules, dashboard ConfigMaps, a RayCluster.",
    ),
    "launch": (
        "rayobs.cli._launch",
        "launch",
        "Run a command (ray start, python job.py) under mprof and/or cProfile.",
    ),
    "memory": (
        "rayobs.cli._memory",
        "memory",
        "What holds memory in a running cluster: references, store stats, leak hints, diffs.",
    ),
    "profile": (
        "rayobs.cli._profile",
        "profile",
        "Report or plot cProfile stats and mprof memory files.",
    ),
    "run": (
        "rayobs.cli._run",
        "run",
        "Run a program with every Ray task, actor and Ray Data function instrumented.",
    ),
    "top": (
        "rayobs.cli._top",
        "top",
        "Calls/s, errors, p99 and in-flight per task and actor method, live.",
    ),
}


class _LazyGroup(click.Group):
    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """In standalone mode (the console script, ``CliRunner``) errors take the one path."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        return one_line_errors(
            lambda: super(_LazyGroup, self).main(
                args, prog_name or "rayobs", complete_var, standalone_mode=False, **extra
            )
        )

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*COMMANDS, *self.commands])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            module_name, attribute, _help = COMMANDS[cmd_name]
            command: click.Command = getattr(importlib.import_module(module_name), attribute)
            return command
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in sorted(COMMANDS)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="rayobs")
def cli() -> None:
    """Observability and debugging for Ray: metrics, inspectors, incident diagnosis."""


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the ``rayobs`` console script."""
    return cli.main(argv, prog_name="rayobs")
