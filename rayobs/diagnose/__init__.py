"""Why did it die? Exit statuses, Kubernetes reasons and Ray's logs turned into verdicts.

Collect, classify, render, each its own module: collectors read files and the
state API into ``Finding`` objects, ``classify`` turns an exit status plus
findings into a frozen ``Verdict``, renderers make text or JSON. Importing this
package does not import Ray.

>>> from rayobs.diagnose import explain_exit_code
>>> verdict = explain_exit_code(137)
>>> verdict.category.value, verdict.signal, verdict.confidence.value
('killed', 'SIGKILL', 'ambiguous')
"""

from __future__ import annotations

from rayobs.diagnose._classify import classify
from rayobs.diagnose._collect import EvidenceError
from rayobs.diagnose._evidence import Finding, FindingKind
from rayobs.diagnose._exitcodes import InvalidExitCode, parse_code
from rayobs.diagnose._explain import explain_exit_code
from rayobs.diagnose._render import verdict_to_dict, verdict_to_text
from rayobs.diagnose._verdict import Category, Confidence, Evidence, Verdict

__all__ = [
    "Category",
    "Confidence",
    "Evidence",
    "EvidenceError",
    "Finding",
    "FindingKind",
    "InvalidExitCode",
    "Verdict",
    "classify",
    "explain_exit_code",
    "parse_code",
    "verdict_to_dict",
    "verdict_to_text",
]
