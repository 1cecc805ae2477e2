"""Explain one exit status from the sources a person has at hand during an incident.

This is what ``rayobs exit-code`` computes: read the evidence the caller
pointed at, keep the parts about this exit, classify. It returns a
``Verdict``; rendering is someone else's job.

>>> explain_exit_code(139).category.value
'segfault'
>>> explain_exit_code(137, reason="OOMKilled").confidence.value
'certain'
"""

from __future__ import annotations

from typing import TextIO

from rayobs.diagnose._classify import classify
from rayobs.diagnose._collect import (
    EvidenceError,
    read_cgroup,
    read_kernel_log,
    read_pod,
    read_ray_logs,
)
from rayobs.diagnose._evidence import Finding, Termination, reason_finding, termination_findings
from rayobs.diagnose._exitcodes import check_code, same_status
from rayobs.diagnose._verdict import Evidence, Verdict


def explain_exit_code(
    code: int,
    *,
    reason: str | None = None,
    pod: str | None = None,
    kernel_log: str | None = None,
    cgroup: str | None = None,
    ray_logs: str | None = None,
    pid: int | None = None,
    stdin: TextIO | None = None,
) -> Verdict:
    """The verdict for ``code`` given a Kubernetes reason and evidence files.

    ``pod``/``kernel_log`` are paths or ``"-"`` for stdin (one of them at most);
    ``cgroup`` a cgroup directory; ``ray_logs`` a Ray session or logs directory;
    ``pid`` ties kernel and Ray lines to this process. Raises ``EvidenceError``
    (a ``ValueError``) when a source cannot be read or does not fit the code.
    """
    check_code(code)
    if pod == "-" and kernel_log == "-":
        raise EvidenceError("only one of --pod and --kernel-log can read stdin ('-')")
    findings: list[Finding] = []
    if reason is not None:
        if not reason.strip():
            raise EvidenceError("--reason is empty")
        findings.append(reason_finding(reason, Evidence("--reason", reason.strip())))
    if pod is not None:
        for termination in matching_terminations(read_pod(pod, stdin), code, pod):
            findings.extend(termination_findings(termination))
    if kernel_log is not None:
        findings.extend(read_kernel_log(kernel_log, stdin))
    if cgroup is not None:
        findings.extend(read_cgroup(cgroup))
    if ray_logs is not None:
        findings.extend(read_ray_logs(ray_logs))
    return classify(code, findings, pid=pid)


def matching_terminations(
    terminations: list[Termination], code: int, source: str
) -> list[Termination]:
    """The terminated states that report ``code`` (``137`` matches ``-9``)."""
    if not terminations:
        raise EvidenceError(f"--pod: {source} has no terminated container state")
    matching = [t for t in terminations if same_status(t.exit_code, code)]
    if not matching:
        found = ", ".join(
            f"{t.container}={t.exit_code}" + (f" ({t.reason})" if t.reason else "")
            for t in terminations
        )
        raise EvidenceError(
            f"--pod: no terminated container exited with {code} in {source} (found: {found})"
        )
    return matching
