"""Rule 2 of the classifier: memory evidence makes a kill an OOM kill.

A SIGKILL, a SIGTERM (Ray's memory monitor and the kubelet send it first) or an
unknown status becomes ``oom_killed``: *certain* when the evidence names this
process (Kubernetes ``OOMKilled``, a kernel or Ray line with this pid or worker
id), *likely* when it cannot be tied to it (a cgroup counter, a log line naming
nobody). Lines naming another process are not evidence for this one.
"""

from __future__ import annotations

from rayobs.diagnose._draft import Draft, Tie, Tier, headline
from rayobs.diagnose._evidence import OOM_KINDS, Finding, FindingKind
from rayobs.diagnose._exitcodes import SIGKILL, SIGTERM, ExitStatus
from rayobs.diagnose._meanings import CATEGORY_MEANINGS
from rayobs.diagnose._verdict import Category, Confidence

_OOM_SUMMARY = {
    (FindingKind.OOM_KUBERNETES, True): "Kubernetes reports OOMKilled: the container went "
    "over its memory limit and the kernel killed it",
    (FindingKind.OOM_KERNEL, True): "the kernel OOM killer killed this process{pid}",
    (FindingKind.OOM_KERNEL, False): "the kernel OOM killer killed a process here; the log "
    "does not tie that kill to this one",
    (FindingKind.OOM_RAY, True): "Ray's memory monitor killed this worker{pid}: the node ran "
    "low on memory",
    (FindingKind.OOM_RAY, False): "Ray's memory monitor killed workers on this node; the log "
    "does not name this one",
    (FindingKind.OOM_CGROUP, True): "the memory cgroup's OOM killer fired as this "
    "process{pid} vanished: its oom_kill counter rose and this process was the one gone",
    (FindingKind.OOM_CGROUP, False): "the cgroup's OOM killer fired (memory limit reached); "
    "the counter does not say which process it killed",
}
_OOM_STEPS = {
    FindingKind.OOM_KUBERNETES: "raise resources.limits.memory of the container, or give each "
    "pod less work",
    FindingKind.OOM_KERNEL: "compare the process's peak memory with the limit of its cgroup "
    "(memory.max / memory.limit_in_bytes) and with the node's memory",
    FindingKind.OOM_RAY: "Ray's memory monitor kills above RAY_memory_usage_threshold (default "
    "0.95 of node memory): run fewer tasks per node (more num_cpus or memory= per task)",
    FindingKind.OOM_CGROUP: "check which process of the cgroup grew: memory.peak, or the kernel "
    "log for 'Killed process'",
}
_OOM_ORDER = (
    FindingKind.OOM_KUBERNETES,
    FindingKind.OOM_KERNEL,
    FindingKind.OOM_RAY,
    FindingKind.OOM_CGROUP,
)


def _fits(status: ExitStatus | None, finding: Finding) -> bool:
    """Could this OOM finding explain an exit with this status?"""
    if status is None or status.signum == SIGKILL:
        return True
    # The raylet's memory monitor and the kubelet send SIGTERM first.
    if status.signum == SIGTERM:
        return finding.kind in (FindingKind.OOM_RAY, FindingKind.OOM_KUBERNETES)
    # Kubernetes reports OOMKilled when any process of the container was OOM-killed;
    # the main process may then have exited with a status of its own.
    return finding.kind is FindingKind.OOM_KUBERNETES and status.code != 0


def oom_rule(status: ExitStatus | None, facts: tuple[Finding, ...], tie: Tier) -> Draft | None:
    if any(
        f.kind is FindingKind.SIGNAL and f.value != SIGKILL and tie(f) is Tie.THIS for f in facts
    ):
        return None  # a crash trace of its own beats a memory counter
    tied, untied = memory_findings(facts, tie)
    tied = [f for f in tied if _fits(status, f)]
    untied = [f for f in untied if _fits(status, f)]
    if not tied and not untied:
        return None
    lead = min(tied or untied, key=lambda f: _OOM_ORDER.index(f.kind))
    is_tied = bool(tied)
    summary = _OOM_SUMMARY.get((lead.kind, is_tied)) or _OOM_SUMMARY[(lead.kind, False)]
    summary = summary.format(pid=f" (pid {tie.pid})" if tie.pid is not None else "")
    confidence = Confidence.CERTAIN if is_tied else Confidence.LIKELY
    if status is not None and status.signum is None:
        # OOMKilled with a plain status: a child was killed, the main process then exited.
        confidence = Confidence.LIKELY
        summary += f"; the main process then exited with status {status.code}"
    draft = Draft(
        Category.OOM_KILLED,
        confidence,
        headline(status, summary),
        CATEGORY_MEANINGS[Category.OOM_KILLED],
        [f.evidence for f in sorted(tied, key=_order) + sorted(untied, key=_order)],
    )
    draft.steps[:0] = [_OOM_STEPS[f.kind] for f in sorted(tied + untied, key=_order)]
    return draft


def memory_findings(facts: tuple[Finding, ...], tie: Tier) -> tuple[list[Finding], list[Finding]]:
    """OOM findings about this process, and those that name no process."""
    oom = [f for f in facts if f.kind in OOM_KINDS]
    tied = [f for f in oom if tie(f) is Tie.THIS]
    other_kinds = {f.kind for f in oom if tie(f) is Tie.OTHER}
    # A line naming nobody next to lines naming other processes is about those kills.
    untied = [f for f in oom if tie(f) is Tie.UNKNOWN and not (tie.known and f.kind in other_kinds)]
    return tied, untied


def _order(finding: Finding) -> int:
    return _OOM_ORDER.index(finding.kind)
