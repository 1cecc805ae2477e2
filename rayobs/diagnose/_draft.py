"""A verdict being assembled, and which findings are about the process being explained.

Shared by the classifier's rules (``_classify``, ``_oom_rule``): each rule
either returns a ``Draft`` or passes, and a ``Tier`` tells them which findings
name this process, another one, or none.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from rayobs.diagnose._evidence import Finding, FindingKind
from rayobs.diagnose._exitcodes import ExitStatus, describe_code
from rayobs.diagnose._meanings import Meaning
from rayobs.diagnose._verdict import Category, Confidence, Evidence


class Tie(Enum):
    THIS = "this"  # names this process (or is about this container)
    OTHER = "other"  # names another process
    UNKNOWN = "unknown"  # names no process, or we do not know which one is ours


class Tier:
    """Decides whether a finding is about the process being explained."""

    def __init__(self, pid: int | None, worker_id: str | None) -> None:
        self.pid = pid
        self.worker_id = worker_id.lower() if worker_id else None

    @property
    def known(self) -> bool:
        return self.pid is not None or self.worker_id is not None

    def __call__(self, finding: Finding) -> Tie:
        if finding.own:
            return Tie.THIS
        if finding.pid is not None and self.pid is not None:
            return Tie.THIS if finding.pid == self.pid else Tie.OTHER
        if finding.worker_id and self.worker_id:
            return Tie.THIS if finding.worker_id.lower() == self.worker_id else Tie.OTHER
        return Tie.UNKNOWN


class Draft:
    """A verdict being assembled (lists, so context can be appended)."""

    def __init__(
        self,
        category: Category,
        confidence: Confidence,
        summary: str,
        meaning: Meaning,
        evidence: Iterable[Evidence] = (),
        signal: str | None = None,
    ) -> None:
        self.category = category
        self.confidence = confidence
        self.summary = summary
        self.causes = list(meaning.causes)
        self.steps = list(meaning.steps)
        self.evidence = list(evidence)
        self.signal = signal


def relevant(facts: tuple[Finding, ...], tie: Tier, kind: FindingKind) -> list[Finding]:
    return [f for f in facts if f.kind is kind and tie(f) is not Tie.OTHER]


def headline(status: ExitStatus | None, summary: str) -> str:
    if status is None:
        return f"{summary} (no exit status recorded)"
    return f"{describe_code(status)}: {summary}"
