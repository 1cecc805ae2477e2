"""``rayobs exit-code``: explain an exit status, with whatever evidence is at hand.

It must answer within a fraction of a second during an incident, so it
imports neither Ray nor anything heavy: only the classifier and its readers.
"""

from __future__ import annotations

import json
from typing import Any

import click

from rayobs.cli._errors import fail
from rayobs.cli._options import CONTEXT_SETTINGS, OutputFormat, format_option
from rayobs.diagnose._collect import EvidenceError
from rayobs.diagnose._exitcodes import InvalidExitCode, parse_code
from rayobs.diagnose._explain import explain_exit_code
from rayobs.diagnose._render import verdict_to_dict, verdict_to_text


@click.command(
    "exit-code",
    context_settings={**CONTEXT_SETTINGS, "ignore_unknown_options": True},
)
@click.argument("code", metavar="[CODE]", required=False)
@click.option(
    "--reason", metavar="K8S_REASON", help="Kubernetes terminated reason (OOMKilled, Error, ...)."
)
@click.option(
    "--pod",
    metavar="FILE|-",
    help="`kubectl get pod NAME -o json` output (a Pod or a List); '-' reads stdin. "
    "Supplies CODE when it is left out.",
)
@click.option(
    "--container",
    metavar="NAME",
    help="With --pod: this container's terminated state (default: the latest failed one).",
)
@click.option(
    "--kernel-log",
    metavar="FILE|-",
    help="Kernel log (`dmesg -T`, `journalctl -k`); '-' reads stdin.",
)
@click.option(
    "--cgroup",
    metavar="DIR",
    help="The process's cgroup directory (memory.events or memory.oom_control).",
)
@click.option("--ray-logs", metavar="DIR", help="A Ray session directory or its logs directory.")
@click.option("--pid", type=int, metavar="PID", help="Tie kernel and Ray log lines to this pid.")
@format_option()
def exit_code(
    code: str | None,
    reason: str | None,
    pod: str | None,
    container: str | None,
    kernel_log: str | None,
    cgroup: str | None,
    ray_logs: str | None,
    pid: int | None,
    output_format: str,
) -> None:
    """Explain exit status CODE: 0-255, Python's -N for signal N, or a pod's exitCode.

    With --pod, CODE may be left out: the pod's terminated state supplies it (the
    latest failed container, or --container NAME), and the verdict names the
    container. A CODE the pod does not show is an error, not a guess.

    137 is an OOM kill only with evidence (--reason OOMKilled, --pod, --kernel-log,
    --cgroup, --ray-logs); alone it stays "killed", ambiguous, with the ways to
    tell the causes apart.

    \b
    Examples:
      rayobs exit-code 137
      rayobs exit-code -11 --format json
      kubectl get pod ray-worker-x -o json | rayobs exit-code --pod -
      kubectl get pod ray-worker-x -o json | rayobs exit-code --pod - --container ray-worker
      dmesg -T | rayobs exit-code 137 --kernel-log - --pid 4242
    """
    try:
        number = parse_code(code) if code is not None else None
        verdict = explain_exit_code(
            number,
            reason=reason,
            pod=pod,
            container=container,
            kernel_log=kernel_log,
            cgroup=cgroup,
            ray_logs=ray_logs,
            pid=pid,
        )
    except (InvalidExitCode, EvidenceError) as exc:
        fail(str(exc))
    if OutputFormat(output_format) is OutputFormat.JSON:
        document: dict[str, Any] = verdict_to_dict(verdict)
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(verdict_to_text(verdict))
