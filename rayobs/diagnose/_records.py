"""Ray's state API records as observations: dead workers, actors, tasks, and dead nodes. Pure.

Records come as Ray 2.60's ``ray.util.state`` returns them (dataclasses, or
plain mappings); each becomes an ``Observation`` with the findings its exit
detail, death cause or error carries. ``_state`` reads them from a cluster.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import fields, is_dataclass
from typing import Any

from rayobs.diagnose._evidence import Finding, FindingKind, clip
from rayobs.diagnose._observation import Observation
from rayobs.diagnose._raymsgs import (
    exception_line,
    exit_detail_findings,
    is_routine_exit,
    node_death,
)
from rayobs.diagnose._verdict import Evidence

# Actor deaths that are the normal end of an actor's life.
_ROUTINE_ACTOR_REASONS = frozenset({"OUT_OF_SCOPE", "REF_DELETED"})


def as_mapping(item: Any) -> Mapping[str, Any]:
    """A record as a mapping, whichever type Ray returned it as."""
    if isinstance(item, Mapping):
        return item
    if is_dataclass(item) and not isinstance(item, type):
        return {f.name: getattr(item, f.name) for f in fields(item)}
    return dict(vars(item))


def _ms(value: Any) -> float | None:
    return value / 1000 if isinstance(value, int | float) and value > 0 else None


def worker_observation(worker: Mapping[str, Any]) -> Observation:
    wid = str(worker.get("worker_id") or "") or None
    pid = worker.get("pid") or None
    exit_type = worker.get("exit_type")
    detail = worker.get("exit_detail") or ""
    source = f"state-api worker {wid}"
    return Observation(
        worker_id=wid,
        pid=pid,
        node=worker.get("node_id"),
        exit_type=exit_type,
        time=_ms(worker.get("end_time_ms")),
        findings=tuple(exit_detail_findings(exit_type, detail, source, pid=pid, worker_id=wid)),
        # A driver that exits is the end of a job, not a death, unless it crashed.
        routine=is_routine_exit(exit_type, detail)
        or (worker.get("worker_type") == "DRIVER" and exit_type != "SYSTEM_ERROR"),
    )


def actor_observation(actor: Mapping[str, Any]) -> Observation | None:
    cause = actor.get("death_cause") or {}
    name = str(actor.get("class_name") or "")
    if actor.get("name"):
        name = f"{name} ({actor['name']})"
    pid = actor.get("pid") or None
    source = f"state-api actor {actor.get('actor_id')}"
    findings: list[Finding] = []
    routine = False
    if "creation_task_failure_context" in cause:
        context = cause["creation_task_failure_context"] or {}
        text = str(context.get("formatted_exception_string") or "")
        line = exception_line(text) if text else "the actor's __init__ raised"
        findings.append(
            Finding(
                FindingKind.RAY_INIT_ERROR,
                Evidence(source, f"creation task failed: {line}"),
                pid=pid,
                value=line,
            )
        )
    elif "actor_died_error_context" in cause:
        context = cause["actor_died_error_context"] or {}
        reason = str(context.get("reason") or "")
        message = str(context.get("error_message") or reason)
        routine = reason in _ROUTINE_ACTOR_REASONS
        exit_type = "INTENDED_SYSTEM_EXIT" if reason == "RAY_KILL" else None
        findings.extend(exit_detail_findings(exit_type, message, source, pid=pid))
    if not findings and not routine:
        return None  # nothing to add beyond the worker's own record
    return Observation(
        pid=pid,
        node=actor.get("node_id"),
        name=name or None,
        time=_ms(actor.get("end_time")),
        findings=tuple(findings),
        routine=routine,
        # Joined with its worker's record; on its own (no worker seen) it is a death.
        ended=not routine,
    )


def task_observation(task: Mapping[str, Any]) -> Observation:
    wid = task.get("worker_id") or None
    pid = task.get("worker_pid") or None
    error_type = task.get("error_type")
    message = str(task.get("error_message") or "")
    source = f"state-api task {task.get('task_id')} ({task.get('name')})"
    described = f"error_type={error_type} {message}"
    findings = list(exit_detail_findings(None, described, source, pid=pid, worker_id=wid))
    if error_type == "OUT_OF_MEMORY":
        findings.insert(
            0,
            Finding(
                FindingKind.OOM_RAY,
                Evidence(source, clip(described.splitlines()[0])),
                pid=pid,
                worker_id=wid,
            ),
        )
    return Observation(
        worker_id=wid,
        pid=pid,
        node=task.get("node_id"),
        name=task.get("name"),
        time=_ms(task.get("end_time_ms")),
        findings=tuple(findings),
    )


def node_unexplained(item: Observation) -> bool:
    return bool(item.node) and any(
        f.kind is FindingKind.RAY_NODE_DIED and f.value == "unknown" for f in item.findings
    )


def node_death_observations(
    observations: list[Observation], nodes: list[Mapping[str, Any]]
) -> Iterator[Observation]:
    """Evidence from dead nodes' records for the deaths on them that Ray left unexplained.

    A task on a dead node is recorded as "the node it was running on is dead or
    unavailable"; the node's ``state_message`` says why ("Terminated due to
    preemption: ...", "Expected termination: received SIGTERM").
    """
    messages: dict[str, str] = {}
    for node in nodes:
        message = str(node.get("state_message") or "")
        if node_death(message) not in (None, "unknown"):
            messages[str(node.get("node_id"))] = message
    for item in observations:
        message = messages.get(str(item.node), "")
        if not message or not node_unexplained(item):
            continue
        finding = Finding(
            FindingKind.RAY_NODE_DIED,
            Evidence(f"state-api node {item.node}", clip(f"state_message={message}")),
            pid=item.pid,
            worker_id=item.worker_id,
            value=node_death(message),
        )
        yield Observation(
            worker_id=item.worker_id,
            pid=item.pid,
            node=item.node,
            findings=(finding,),
            ended=False,
        )
