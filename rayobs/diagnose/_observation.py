"""What a source knows about one worker's end, before classification.

Logs and the state API each produce ``Observation`` objects; ``merge`` joins
the ones about the same worker (by worker id, else by node and pid), and the
classifier turns each merged observation into a verdict.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from rayobs.diagnose._evidence import Finding


@dataclass(frozen=True)
class Observation:
    """One source's view of one worker (or actor, or task) that ended.

    ``routine`` marks exits Ray considers normal (job finished, idle worker,
    ``ray.shutdown()``): they are not deaths. ``time`` is epoch seconds.
    """

    worker_id: str | None = None
    pid: int | None = None
    node: str | None = None
    name: str | None = None
    exit_type: str | None = None
    time: float | None = None
    findings: tuple[Finding, ...] = ()
    routine: bool = False
    ended: bool = True  # False: only evidence about a worker, not a record of its end


def merge(observations: Iterable[Observation]) -> list[Observation]:
    """Join observations about the same worker; keep first-seen order.

    Worker ids decide; an observation with only a pid joins the worker with
    that pid (on the same node, when both name one).
    """
    items = list(observations)
    pid_to_worker: dict[tuple[str | None, int], str] = {}
    for item in items:
        if item.worker_id and item.pid is not None:
            pid_to_worker.setdefault((item.node, item.pid), item.worker_id)
            pid_to_worker.setdefault((None, item.pid), item.worker_id)
    merged: dict[str, Observation] = {}
    for item in items:
        key = _key(item, pid_to_worker)
        merged[key] = _join(merged[key], item) if key in merged else item
    return list(merged.values())


def _key(item: Observation, pid_to_worker: dict[tuple[str | None, int], str]) -> str:
    if item.worker_id:
        return f"w:{item.worker_id}"
    if item.pid is not None:
        worker = pid_to_worker.get((item.node, item.pid)) or pid_to_worker.get((None, item.pid))
        if worker:
            return f"w:{worker}"
        return f"p:{item.node}:{item.pid}"
    return f"o:{id(item)}"


def _join(first: Observation, second: Observation) -> Observation:
    return replace(
        first,
        worker_id=first.worker_id or second.worker_id,
        pid=first.pid if first.pid is not None else second.pid,
        node=first.node or second.node,
        name=first.name or second.name,
        exit_type=_stronger(first.exit_type, second.exit_type),
        time=first.time if first.time is not None else second.time,
        findings=tuple(dict.fromkeys(first.findings + second.findings)),
        # A worker is a death if any source says its end was not routine.
        routine=_routine(first) and _routine(second),
        ended=first.ended or second.ended,
    )


def _routine(item: Observation) -> bool:
    return item.routine or not item.ended


# When sources disagree, the most specific exit type wins.
_SPECIFICITY = {
    "NODE_OUT_OF_MEMORY": 5,
    "USER_ERROR": 4,
    "SYSTEM_ERROR": 3,
    "INTENDED_SYSTEM_EXIT": 2,
    "INTENDED_USER_EXIT": 1,
}


def _stronger(first: str | None, second: str | None) -> str | None:
    if first is None or second is None:
        return first or second
    return max(first, second, key=lambda t: _SPECIFICITY.get(t, 0))
