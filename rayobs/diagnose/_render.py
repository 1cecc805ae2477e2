"""Renderers: verdicts and reports as plain text or JSON-ready dicts. Nothing here decides."""

from __future__ import annotations

from typing import Any

from rayobs.diagnose._verdict import Verdict


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
