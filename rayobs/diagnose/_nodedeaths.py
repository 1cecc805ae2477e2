"""Nodes that died, how, and the workers that went with them.

A node's death is one event with many victims: every worker alive on it. The
GCS writes it down (``gcs_server.out``: "death reason = UNEXPECTED_TERMINATION,
death message = health check failed ... node_id=..."; the state API: a ``DEAD``
node's ``state_message``). ``lost_workers`` finds its victims among what the
sources saw: deaths whose own record says their node died, and, in a session's
logs, workers started on that node that never recorded an end.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from rayobs.diagnose._evidence import Finding, FindingKind, clip
from rayobs.diagnose._observation import Observation
from rayobs.diagnose._raymsgs import node_death
from rayobs.diagnose._verdict import Evidence

_GCS_DEATH = re.compile(
    r"death reason = (?P<reason>\w+), death message = (?P<message>.*?) node_id=(?P<node>[0-9a-f]+)"
)
# Ray's death reasons (gcs.proto NodeDeathInfo.Reason) -> the keys of _raycauses.NODE_DEATHS.
_REASONS = {
    "UNEXPECTED_TERMINATION": "unexpected",
    "EXPECTED_TERMINATION": "terminated",
    "AUTOSCALER_DRAIN_PREEMPTED": "preempted",
    "AUTOSCALER_DRAIN_IDLE": "idle",
}


@dataclass(frozen=True)
class NodeDeath:
    """One dead node: when, how (``how``: a ``NODE_DEATHS`` key and Ray's message), its victims.

    ``lost`` names the workers that died with it: ``(pid, worker id, name)``.
    """

    node_id: str
    time: float | None
    how: str
    evidence: Evidence
    lost: tuple[tuple[int | None, str | None, str | None], ...] = ()


def gcs_node_deaths(
    records: Iterable[tuple[int, float | None, str]], source: str
) -> Iterator[NodeDeath]:
    """Node deaths in ``gcs_server.out`` records (``_session.records``); cited as ``source:N``."""
    for number, stamp, text in records:
        if "death reason = " not in text:
            continue
        match = _GCS_DEATH.search(text)
        if match:
            how = _REASONS.get(match.group("reason"), "unknown")
            message = match.group("message").strip()
            yield NodeDeath(
                match.group("node"),
                stamp,
                f"{how}: {message}" if message else how,
                Evidence(f"{source}:{number}", clip(text.split("\n", 1)[0])),
            )


def state_node_deaths(nodes: Iterable[Mapping[str, Any]], source: str) -> Iterator[NodeDeath]:
    """Node deaths in the state API's ``DEAD`` node records."""
    for node in nodes:
        node_id = node.get("node_id")
        if not node_id:
            continue
        message = str(node.get("state_message") or "")
        end = node.get("end_time_ms")
        yield NodeDeath(
            str(node_id),
            float(end) / 1000 if isinstance(end, (int, float)) and end else None,
            node_death(message) or (f"unknown: {message}" if message else "unknown"),
            Evidence(f"{source} node {node_id}", clip(f"state=DEAD state_message={message}")),
        )


def lost_workers(
    nodes: Iterable[NodeDeath], merged: Iterable[Observation]
) -> tuple[tuple[NodeDeath, ...], list[Observation]]:
    """Each dead node with its victims, and the victims no record had counted as deaths.

    ``merged`` are the merged observations (``_observation.merge``). A worker
    started on a dead node with no end recorded anywhere died with it: it
    comes back as an ended observation with the node's death as evidence.
    """
    dead = {node.node_id: node for node in nodes}
    lost: dict[str, list[tuple[int | None, str | None, str | None]]] = {n: [] for n in dead}
    found: list[Observation] = []
    for item in merged:
        node = dead.get(item.node or "")
        if node is None or (item.routine and item.ended):
            continue
        died_with = any(f.kind is FindingKind.RAY_NODE_DIED for f in item.findings)
        if not item.ended and item.pid is not None:
            finding = Finding(
                FindingKind.RAY_NODE_DIED, node.evidence, item.pid, item.worker_id, node.how
            )
            found.append(
                replace(item, ended=True, routine=False, time=node.time, findings=(finding,))
            )
            died_with = True
        if died_with:
            lost[node.node_id].append((item.pid, item.worker_id, item.name))
    return tuple(replace(n, lost=tuple(lost[n.node_id])) for n in dead.values()), found
