"""Find every dead worker of a Ray session and explain each death.

Sources: the session's logs (post-mortem, no cluster needed) and the state
API of a running cluster. Both yield observations; they are merged per worker
and each goes through the same classifier as ``rayobs exit-code``.

>>> from rayobs.diagnose import diagnose
>>> report = diagnose(session_dir="/tmp/ray/session_latest")  # doctest: +SKIP
>>> [(d.pid, d.verdict.category.value) for d in report.deaths]  # doctest: +SKIP
[(6476, 'segfault'), (8224, 'oom_killed')]
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rayobs.diagnose._classify import classify
from rayobs.diagnose._collect import EvidenceError
from rayobs.diagnose._nodedeaths import NodeDeath, lost_workers
from rayobs.diagnose._observation import Observation, merge
from rayobs.diagnose._session import read_session
from rayobs.diagnose._verdict import Verdict


def default_session_dir() -> Path:
    """Where Ray links its latest session: ``$RAY_TMPDIR`` (else ``$TMPDIR``, else /tmp)/ray."""
    root = os.environ.get("RAY_TMPDIR") or os.environ.get("TMPDIR") or "/tmp"
    return Path(root) / "ray" / "session_latest"


@dataclass(frozen=True)
class Death:
    """One worker (or actor, or task) that died, and why."""

    pid: int | None
    worker_id: str | None
    node: str | None
    name: str | None
    exit_type: str | None
    time: float | None  # epoch seconds, when a source recorded it
    verdict: Verdict


@dataclass(frozen=True)
class Diagnosis:
    """Every death found, oldest first, and where the facts came from."""

    session: str
    deaths: tuple[Death, ...]
    sources: tuple[str, ...]
    nodes: tuple[NodeDeath, ...] = ()  # dead nodes, each with the workers lost with it


class NoSourceError(EvidenceError):
    """Neither a cluster nor a session directory to read."""


def diagnose(
    *,
    address: str | None = None,
    session_dir: str | Path | None = None,
    since: float | None = None,
    timeout: float = 8.0,
    node_evidence: bool = True,
) -> Diagnosis:
    """Diagnose a session from its logs, a running cluster, or both.

    With ``session_dir`` only, the logs are read and no cluster is contacted
    (post-mortem). With ``address``, the state API is read (and the logs too
    when ``session_dir`` is also given). With neither, the local cluster is
    tried, then Ray's latest session (``default_session_dir``). ``since`` drops deaths recorded
    before that epoch time. With ``node_evidence`` (the default) and a live
    cluster, each alive node that lost a worker no record explains is asked
    for its kernel log and memory cgroup counters (``_nodes``): a kernel OOM
    kill is only written there. Raises ``EvidenceError`` (bad or empty session
    directory, nothing to read) or ``ClusterError`` (no cluster answered, or a bad
    ``address``: a GCS address ``HOST:PORT`` or a dashboard URL).
    """
    observations: list[Observation] = []
    sources: list[str] = []
    session: str | None = None
    local: list[Observation] = []  # merged after the state API's: its names are fuller
    dead_nodes: list[NodeDeath] = []
    if session_dir is not None:
        logs = read_session(session_dir)
        local.extend(logs.observations)
        dead_nodes.extend(logs.node_deaths)
        sources.append(f"logs {logs.logs}")
        session = logs.session
    if address is not None or session_dir is None:
        from rayobs._cluster import ClusterUnavailable
        from rayobs.diagnose._state import read_cluster

        try:
            cluster = read_cluster(address, timeout=timeout)
        except ClusterUnavailable as exc:
            fallback = default_session_dir()
            if address is not None or session_dir is not None:
                raise
            if not fallback.exists():
                raise NoSourceError(
                    f"{exc}; and no session directory at {fallback}: pass --address ADDR for "
                    "a running cluster or --session-dir DIR for its logs"
                ) from None
            logs = read_session(fallback)
            observations.extend(logs.observations)
            dead_nodes.extend(logs.node_deaths)
            sources.append(f"logs {logs.logs} (no cluster answered: {exc})")
            session = logs.session
        else:
            observations.extend(cluster.observations)
            dead_nodes[:0] = cluster.node_deaths
            sources.append(f"state API {cluster.address}")
            session = session or cluster.session or cluster.address
            if node_evidence:
                found, notes = _from_nodes(address, observations + local, timeout)
                observations.extend(found)
                sources.extend(notes)
    observations.extend(local)
    merged = merge(observations)
    nodes, lost = lost_workers(_first_per_node(dead_nodes), merged)
    if lost:
        merged = merge(merged + lost)
    deaths = [_death(item) for item in merged if item.ended and not item.routine]
    if since is not None:
        deaths = [d for d in deaths if d.time is None or d.time >= since]
    deaths.sort(key=lambda d: (d.time is None, d.time or 0.0, d.pid or 0))
    if since is not None:
        nodes = tuple(n for n in nodes if n.time is None or n.time >= since)
    return Diagnosis(session or "unknown", tuple(deaths), tuple(sources), nodes)


def _first_per_node(nodes: list[NodeDeath]) -> list[NodeDeath]:
    """One record per dead node: the state API's first, then the logs'."""
    return list({node.node_id: node for node in reversed(nodes)}.values())[::-1]


def _from_nodes(
    address: str | None, observations: list[Observation], timeout: float
) -> tuple[list[Observation], list[str]]:
    """Evidence from the nodes of the unexplained deaths, and one source line per node."""
    from rayobs._cluster import ClusterUnavailable, gcs_address, parse_address, within
    from rayobs.diagnose._nodes import (
        PROBE_BUDGET_S,
        needs_node_evidence,
        node_observations,
        read_nodes,
    )

    wanted = needs_node_evidence(observations)
    if not wanted:
        return [], []
    named = parse_address(address)
    if named.client:
        return [], ["nodes: not asked (a Ray Client address cannot pin tasks to nodes)"]
    budget = max(timeout, PROBE_BUDGET_S)
    deadline = time.monotonic() + budget + timeout

    def probe() -> list[Any]:
        gcs = gcs_address(named, time.monotonic() + timeout)
        return read_nodes(gcs, wanted, budget)

    try:
        reports = within(deadline, "the nodes did not answer", probe, named.where)
    except ClusterUnavailable as exc:
        return [], [f"nodes: no evidence ({exc})"]
    return node_observations(wanted, reports), [report.note() for report in reports]


def _death(item: Observation) -> Death:
    verdict = classify(None, item.findings, pid=item.pid, worker_id=item.worker_id)
    return Death(
        pid=item.pid,
        worker_id=item.worker_id,
        node=item.node,
        name=item.name,
        exit_type=item.exit_type,
        time=item.time,
        verdict=verdict,
    )


_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)\s*$")
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_FORMATS = (
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)


def parse_since(text: str, now: float | None = None) -> float:
    """``--since`` as epoch seconds: ``30m``, ``2h``, ``1d`` ago, or a local time.

    >>> parse_since("2h", now=10_000.0)
    2800.0
    >>> parse_since("2026-11-23T16:00") == parse_since("2026-11-23 16:00")
    True
    """
    match = _RELATIVE.match(text)
    if match:
        return (time.time() if now is None else now) - float(match.group(1)) * _UNITS[
            match.group(2)
        ]
    for layout in _FORMATS:
        try:
            return time.mktime(time.strptime(text.strip(), layout))
        except ValueError:
            continue
    raise ValueError(
        "--since: expected a duration like 30m, 2h, 1d or a time like 2026-11-23T16:00, "
        f"got {text!r}"
    )
