"""Why did it die? Exit statuses, Kubernetes reasons and Ray's logs turned into verdicts.

Collect, classify, render, each its own module: collectors read files and the
state API into ``Finding`` objects (``explain_exit_code`` for one status,
``diagnose`` for every dead worker of a session), ``classify`` turns an exit status plus
findings into a frozen ``Verdict``, renderers make text or JSON. Importing this
package does not import Ray.

>>> from rayobs.diagnose import explain_exit_code
>>> verdict = explain_exit_code(137)
>>> verdict.category.value, verdict.signal, verdict.confidence.value
('killed', 'SIGKILL', 'ambiguous')
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rayobs.diagnose._classify import classify
from rayobs.diagnose._collect import EvidenceError
from rayobs.diagnose._evidence import Finding, FindingKind
from rayobs.diagnose._exitcodes import InvalidExitCode, parse_code
from rayobs.diagnose._explain import explain_exit_code
from rayobs.diagnose._render import verdict_to_dict, verdict_to_text
from rayobs.diagnose._verdict import Category, Confidence, Evidence, Verdict

if TYPE_CHECKING:
    from rayobs._cluster import ClusterUnavailable as ClusterError
    from rayobs.diagnose._diagnose import Death, Diagnosis, diagnose, parse_since
    from rayobs.diagnose._render import diagnosis_to_dict, diagnosis_to_text

# Session-wide diagnosis loads on first use: `rayobs exit-code` must not pay for it.
# name -> (module, its name there)
_LAZY = {
    "ClusterError": ("rayobs._cluster", "ClusterUnavailable"),
    "Death": ("rayobs.diagnose._diagnose", "Death"),
    "Diagnosis": ("rayobs.diagnose._diagnose", "Diagnosis"),
    "diagnose": ("rayobs.diagnose._diagnose", "diagnose"),
    "parse_since": ("rayobs.diagnose._diagnose", "parse_since"),
    "diagnosis_to_dict": ("rayobs.diagnose._render", "diagnosis_to_dict"),
    "diagnosis_to_text": ("rayobs.diagnose._render", "diagnosis_to_text"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Category",
    "ClusterError",
    "Confidence",
    "Death",
    "Diagnosis",
    "Evidence",
    "EvidenceError",
    "Finding",
    "FindingKind",
    "InvalidExitCode",
    "Verdict",
    "classify",
    "diagnose",
    "diagnosis_to_dict",
    "diagnosis_to_text",
    "explain_exit_code",
    "parse_code",
    "parse_since",
    "verdict_to_dict",
    "verdict_to_text",
]
