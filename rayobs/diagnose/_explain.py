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

from dataclasses import replace
from typing import TextIO

from rayobs.diagnose._classify import classify
from rayobs.diagnose._collect import (
    EvidenceError,
    read_cgroup,
    read_kernel_log,
    read_pod,
    read_ray_logs,
)
from rayobs.diagnose._evidence import (
    Finding,
    FindingKind,
    Termination,
    reason_finding,
    termination_findings,
)
from rayobs.diagnose._exitcodes import check_code, same_status
from rayobs.diagnose._verdict import Evidence, Verdict


def explain_exit_code(
    code: int | None = None,
    *,
    reason: str | None = None,
    pod: str | None = None,
    container: str | None = None,
    kernel_log: str | None = None,
    cgroup: str | None = None,
    ray_logs: str | None = None,
    pid: int | None = None,
    stdin: TextIO | None = None,
) -> Verdict:
    """The verdict for ``code`` given a Kubernetes reason and evidence files.

    ``pod``/``kernel_log`` are paths or ``"-"`` for stdin (one of them at most);
    ``container`` picks one container of the pod; ``cgroup`` a cgroup directory;
    ``ray_logs`` a Ray session or logs directory; ``pid`` ties kernel and Ray
    lines to this process. ``code`` may be ``None`` when ``pod`` is given: the
    pod's terminated state supplies it (see ``latest_termination`` for which
    one), and the summary names that container. Raises ``EvidenceError`` (a
    ``ValueError``) when a source cannot be read or contradicts the code.
    """
    if code is not None:
        check_code(code)
    if pod == "-" and kernel_log == "-":
        raise EvidenceError("only one of --pod and --kernel-log can read stdin ('-')")
    if container is not None and pod is None:
        raise EvidenceError("--container picks a container of --pod: give --pod FILE|- too")
    if code is None and pod is None:
        raise EvidenceError(
            "no exit status to explain: give CODE, or --pod FILE|- with a pod whose container "
            "terminated"
        )
    findings: list[Finding] = []
    if reason is not None:
        if not reason.strip():
            raise EvidenceError("--reason is empty")
        findings.append(reason_finding(reason, Evidence("--reason", reason.strip())))
    chosen: Termination | None = None
    others: list[Termination] = []
    if pod is not None:
        terminations = of_container(read_pod(pod, stdin), container, pod)
        if code is None:
            chosen, others = latest_termination(terminations)
            evidence = Evidence(chosen.source, chosen.line())
            findings.insert(
                0, Finding(FindingKind.EXIT_STATUS, evidence, value=chosen.exit_code, own=True)
            )
            terminations = [chosen]
        for termination in matching_terminations(terminations, code, pod):
            findings.extend(termination_findings(termination))
    if kernel_log is not None:
        findings.extend(read_kernel_log(kernel_log, stdin))
    if cgroup is not None:
        findings.extend(read_cgroup(cgroup))
    if ray_logs is not None:
        findings.extend(read_ray_logs(ray_logs))
    verdict = classify(code, findings, pid=pid)
    if chosen is None:
        return verdict
    return _from_the_pod(verdict, chosen, others)


def of_container(
    terminations: list[Termination], container: str | None, source: str
) -> list[Termination]:
    """The terminated states of one container (all of them when ``container`` is None)."""
    if not terminations:
        raise EvidenceError(f"--pod: {_label(source)} has no terminated container state")
    if container is None:
        return terminations
    chosen = [t for t in terminations if t.container == container]
    if not chosen:
        names = ", ".join(dict.fromkeys(t.container for t in terminations))
        raise EvidenceError(
            f"--container: no terminated state of a container named {container!r} in "
            f"{_label(source)} "
            f"(containers that terminated: {names})"
        )
    return chosen


def latest_termination(
    terminations: list[Termination],
) -> tuple[Termination, list[Termination]]:
    """The termination to explain when no code is given, and the others.

    The one an on-call engineer is asking about: a failure before a success
    (a sidecar or an init container that completed is not why a pod is
    restarting), then the latest (``finishedAt``), then the current state
    before ``lastState``. Ties go to the first in the pod's order.
    """
    chosen = max(
        terminations,
        key=lambda t: (t.exit_code != 0, t.finished_at or "", t.state == "state"),
    )
    return chosen, [t for t in terminations if t is not chosen]


def matching_terminations(
    terminations: list[Termination], code: int | None, source: str
) -> list[Termination]:
    """The terminated states that report ``code`` (``137`` matches ``-9``; ``None``: all)."""
    if not terminations:
        raise EvidenceError(f"--pod: {_label(source)} has no terminated container state")
    if code is None:
        return terminations
    matching = [t for t in terminations if same_status(t.exit_code, code)]
    if not matching:
        raise EvidenceError(
            f"--pod: CODE {code} contradicts {_label(source)}, where no "
            f"terminated container exited with it (found: {_listed(terminations)}); leave CODE "
            "out to explain what the pod recorded"
        )
    return matching


def _label(source: str) -> str:
    return "stdin" if source == "-" else source


def _run(termination: Termination) -> str:
    return "previous run" if termination.state == "lastState" else "latest run"


def _listed(terminations: list[Termination]) -> str:
    return ", ".join(
        f"{t.container}={t.exit_code}"
        + (f" ({t.reason}, {_run(t)})" if t.reason else f" ({_run(t)})")
        for t in terminations
    )


def _from_the_pod(verdict: Verdict, chosen: Termination, others: list[Termination]) -> Verdict:
    """Say which container's status is explained, and which other failures the pod holds.

    Successful ends (KubeRay's ``wait-gcs-ready`` init container, a sidecar that
    completed) are not listed: every pod has them.
    """
    summary = f"container {chosen.container} of pod {chosen.pod}, {_run(chosen)}: {verdict.summary}"
    steps = verdict.next_steps
    failed = [t for t in others if t.exit_code != 0]
    if failed:
        steps = (
            *steps,
            f"the pod records other failures too: {_listed(failed)}; explain one with "
            "--container NAME (and its CODE to pick a run)",
        )
    return replace(verdict, summary=summary, next_steps=steps)
