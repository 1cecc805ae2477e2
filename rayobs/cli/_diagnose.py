"""``rayobs diagnose``: every dead worker of a Ray session, and why each died.

Ray is imported only when a live cluster is read. Ray's native client logs
its connection retries straight to file descriptor 2; those lines are kept
out of the terminal so that a failure reads as one line.
"""

from __future__ import annotations

import json

import click

from rayobs._cluster import ClusterUnavailable, native_stderr_silenced
from rayobs.cli._errors import fail
from rayobs.cli._options import (
    CONTEXT_SETTINGS,
    OutputFormat,
    address_option,
    format_option,
    timeout_option,
)
from rayobs.diagnose._collect import EvidenceError
from rayobs.diagnose._diagnose import diagnose as run_diagnosis
from rayobs.diagnose._diagnose import parse_since
from rayobs.diagnose._render import diagnosis_to_dict, diagnosis_to_text


@click.command("diagnose", context_settings=CONTEXT_SETTINGS)
@address_option()
@click.option(
    "--session-dir",
    metavar="DIR",
    help="A session directory (or a copy of one), e.g. /tmp/ray/session_latest. "
    "Alone, no cluster is contacted.",
)
@click.option("--since", metavar="T", help="Only deaths after T: 30m, 2h, 1d, or 2026-11-23T16:00.")
@click.option(
    "--node-evidence/--no-node-evidence",
    default=True,
    show_default=True,
    help="Live: run a short task on each alive node that lost a worker to read its kernel log "
    "and memory cgroup OOM counters (joins the cluster as a driver for a few seconds).",
)
@format_option()
@timeout_option()
def diagnose(
    address: str | None,
    session_dir: str | None,
    since: str | None,
    node_evidence: bool,
    output_format: str,
    timeout: float,
) -> None:
    """Find every dead worker, actor and task of a Ray session and say why each died.

    Reads the session's logs (raylet.out, gcs_server.out, worker-*.err,
    python-core-worker-*.log, events/) and, when a cluster is reachable, the
    state API (worker exit types, actor death causes, task error types). Each
    death gets the same verdict as `rayobs exit-code`, with its evidence lines.
    Live, a worker that vanished is looked up on its node: the kernel log
    (OOM killer lines naming its pid) and the memory cgroup's oom_kill counter.
    Token authentication follows RAY_AUTH_MODE, RAY_AUTH_TOKEN and RAY_AUTH_TOKEN_PATH.

    \b
    Examples:
      rayobs diagnose --session-dir /tmp/ray/session_latest
      rayobs diagnose --address 127.0.0.1:6379 --since 1h --format json
    """
    try:
        since_epoch = parse_since(since) if since is not None else None
    except ValueError as exc:
        fail(str(exc))
    live = address is not None or session_dir is None
    try:
        if live:
            with native_stderr_silenced():
                report = run_diagnosis(
                    address=address,
                    session_dir=session_dir,
                    since=since_epoch,
                    timeout=timeout,
                    node_evidence=node_evidence,
                )
        else:
            report = run_diagnosis(session_dir=session_dir, since=since_epoch)
    except (EvidenceError, ClusterUnavailable) as exc:
        fail(str(exc))
    if OutputFormat(output_format) is OutputFormat.JSON:
        click.echo(json.dumps(diagnosis_to_dict(report), indent=2))
    else:
        click.echo(diagnosis_to_text(report))
