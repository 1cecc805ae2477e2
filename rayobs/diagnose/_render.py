"""Renderers: verdicts and reports as plain text or JSON-ready dicts. Nothing here decides."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rayobs.diagnose._verdict import Verdict

if TYPE_CHECKING:  # the report types import the collectors; rendering does not need them
    from rayobs.diagnose._diagnose import Death, Diagnosis


def verdict_to_dict(verdict: Verdict) -> dict[str, Any]:
    """The JSON shape of a verdict (``category`` and ``confidence`` as their names)."""
    return {
        "code": verdict.code,
        "signal": verdict.signal,
        "category": verdict.category.value,
        "summary": verdict.summary,
        "likely_causes": list(verdict.likely_causes),
        "next_steps": list(verdict.next_steps),
        "evidence": [{"source": e.source, "line": e.line} for e in verdict.evidence],
        "confidence": verdict.confidence.value,
    }


def verdict_to_text(verdict: Verdict) -> str:
    """A verdict for a terminal: headline, causes, next steps, evidence."""
    lines = [
        verdict.summary,
        f"category: {verdict.category.value}   signal: {verdict.signal or '-'}   "
        f"confidence: {verdict.confidence.value}",
    ]
    lines.extend(_section("Likely causes", verdict.likely_causes))
    lines.extend(_section("Next steps", verdict.next_steps))
    lines.append("")
    if verdict.evidence:
        lines.append("Evidence:")
        lines.extend(f"  {e.source}: {e.line}" for e in verdict.evidence)
    else:
        lines.append("Evidence: none beyond the status itself")
    return "\n".join(lines)


def _section(title: str, items: tuple[str, ...]) -> list[str]:
    if not items:
        return []
    return ["", f"{title}:", *(f"  - {item}" for item in items)]


def diagnosis_to_dict(diagnosis: Diagnosis) -> dict[str, Any]:
    """The JSON shape of ``rayobs diagnose``."""
    return {
        "session": diagnosis.session,
        "sources": list(diagnosis.sources),
        "deaths": [_death_to_dict(death) for death in diagnosis.deaths],
        "dead_nodes": [
            {
                "node": node.node_id,
                "time": _iso(node.time),
                "how": node.how,
                "evidence": {"source": node.evidence.source, "line": node.evidence.line},
                "lost": [{"pid": p, "worker_id": w, "name": n} for p, w, n in node.lost],
            }
            for node in diagnosis.nodes
        ],
    }


def _death_to_dict(death: Death) -> dict[str, Any]:
    verdict = death.verdict
    return {
        "pid": death.pid,
        "worker_id": death.worker_id,
        "node": death.node,
        "name": death.name,
        "exit_type": death.exit_type,
        "category": verdict.category.value,
        "summary": verdict.summary,
        "evidence": [{"source": e.source, "line": e.line} for e in verdict.evidence],
        "confidence": verdict.confidence.value,
        "code": verdict.code,
        "signal": verdict.signal,
        "time": _iso(death.time),
        "likely_causes": list(verdict.likely_causes),
        "next_steps": list(verdict.next_steps),
    }


def diagnosis_to_text(diagnosis: Diagnosis, *, max_evidence: int = 3) -> str:
    """A report for a terminal: one block per death, oldest first."""
    count = len(diagnosis.deaths)
    lines = [
        f"session {diagnosis.session}: {count} dead worker{'s' if count != 1 else ''}",
        *(f"  from {source}" for source in diagnosis.sources),
    ]
    for node in diagnosis.nodes:
        lost = ", ".join(f"pid {p}" + (f" ({n})" if n else "") for p, _w, n in node.lost)
        lines.extend(
            [
                "",
                f"node {node.node_id[:12]} died {_iso(node.time) or ''}: {node.how}".rstrip(),
                f"  lost with it: {lost or 'no worker known'}",
                f"    {node.evidence.source}: {_short(node.evidence.line)}",
            ]
        )
    for death in diagnosis.deaths:
        verdict = death.verdict
        who = "  ".join(
            part
            for part in (
                f"pid {death.pid}" if death.pid is not None else "pid ?",
                f"worker {death.worker_id[:12]}" if death.worker_id else "",
                death.name or "",
                death.exit_type or "",
                _iso(death.time) or "",
            )
            if part
        )
        lines.extend(
            [
                "",
                who,
                f"  {verdict.category.value} ({verdict.confidence.value}): {verdict.summary}",
            ]
        )
        shown = verdict.evidence[:max_evidence]
        lines.extend(f"    {e.source}: {_short(e.line)}" for e in shown)
        if len(verdict.evidence) > len(shown):
            lines.append(f"    ... {len(verdict.evidence) - len(shown)} more (--format json)")
    return "\n".join(lines)


def _short(line: str, width: int = 160) -> str:
    return line if len(line) <= width else line[: width - 3] + "..."


def _iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(stamp))
