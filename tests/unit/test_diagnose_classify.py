"""The classifier's rules: evidence ties, precedence, what never becomes an OOM kill."""

from __future__ import annotations

import dataclasses
import json

import pytest

from rayobs.diagnose import (
    Category,
    Confidence,
    Evidence,
    Finding,
    FindingKind,
    classify,
    verdict_to_dict,
    verdict_to_text,
)


def _f(
    kind: FindingKind, pid: int | None = None, value: int | str | None = None, **kw: object
) -> Finding:
    return Finding(
        kind, Evidence(f"src-{kind.value}-{pid}", f"line {kind.value}"), pid, value=value, **kw
    )  # type: ignore[arg-type]


KERNEL = _f(FindingKind.OOM_KERNEL, 42)
CGROUP = _f(FindingKind.OOM_CGROUP, value=1)
RAY = _f(FindingKind.OOM_RAY, 42)
K8S = _f(FindingKind.OOM_KUBERNETES, value="OOMKilled", own=True)


@pytest.mark.parametrize(
    ("code", "findings", "pid", "category", "confidence"),
    [
        (137, [KERNEL], 42, Category.OOM_KILLED, Confidence.CERTAIN),
        (137, [KERNEL], None, Category.OOM_KILLED, Confidence.LIKELY),
        (137, [KERNEL], 7, Category.KILLED, Confidence.AMBIGUOUS),
        (137, [CGROUP], 42, Category.OOM_KILLED, Confidence.LIKELY),
        (137, [K8S], None, Category.OOM_KILLED, Confidence.CERTAIN),
        (None, [RAY], 42, Category.OOM_KILLED, Confidence.CERTAIN),
        # The kernel OOM killer only sends SIGKILL: a SIGTERM death is something else.
        (143, [KERNEL], 42, Category.TERMINATED, Confidence.LIKELY),
        (-15, [RAY], 42, Category.OOM_KILLED, Confidence.CERTAIN),
        # A plain failure status stays what it is, the memory lines become context.
        (1, [KERNEL, CGROUP], 42, Category.ERROR, Confidence.CERTAIN),
        (0, [K8S], None, Category.SUCCESS, Confidence.CERTAIN),
        # The process's own crash trace beats a cgroup counter.
        (
            None,
            [CGROUP, _f(FindingKind.SIGNAL, 42, 11)],
            42,
            Category.SEGFAULT,
            Confidence.CERTAIN,
        ),
        # A trace that cannot be tied to the process is only likely.
        (None, [_f(FindingKind.SIGNAL, None, 6)], 42, Category.ABORT, Confidence.LIKELY),
        # A trace naming another signal than the status does not override it.
        (-9, [_f(FindingKind.SIGNAL, 42, 11)], 42, Category.KILLED, Confidence.AMBIGUOUS),
        (-11, [_f(FindingKind.SIGNAL, 42, 11)], 42, Category.SEGFAULT, Confidence.CERTAIN),
        (None, [], None, Category.ERROR, Confidence.AMBIGUOUS),
    ],
)
def test_rules(
    code: int | None,
    findings: list[Finding],
    pid: int | None,
    category: Category,
    confidence: Confidence,
) -> None:
    verdict = classify(code, findings, pid=pid)
    assert (verdict.category, verdict.confidence) == (category, confidence)


def test_kubernetes_outranks_the_kernel_in_the_summary() -> None:
    verdict = classify(137, [CGROUP, KERNEL, K8S], pid=42)
    assert verdict.summary.startswith(
        "exit status 137 (128 + SIGKILL): Kubernetes reports OOMKilled"
    )
    assert [e.source for e in verdict.evidence] == [
        K8S.evidence.source,
        KERNEL.evidence.source,
        CGROUP.evidence.source,
    ]


def test_memory_context_on_a_plain_failure_is_shown_not_concluded() -> None:
    verdict = classify(1, [KERNEL], pid=42)
    assert verdict.category is Category.ERROR
    assert verdict.evidence == (KERNEL.evidence,)
    assert any("child process" in cause for cause in verdict.likely_causes)


def test_worker_id_ties_like_a_pid() -> None:
    mine = Finding(FindingKind.OOM_RAY, Evidence("raylet.out:9", "x"), worker_id="ABC")
    theirs = Finding(FindingKind.OOM_RAY, Evidence("raylet.out:3", "y"), worker_id="def")
    assert classify(None, [mine], worker_id="abc").confidence is Confidence.CERTAIN
    assert classify(None, [theirs], worker_id="abc").category is Category.ERROR


def test_verdicts_are_frozen_and_deduplicated() -> None:
    verdict = classify(137, [KERNEL, KERNEL], pid=42)
    assert len(verdict.evidence) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.code = 1  # type: ignore[misc]


def test_json_shape() -> None:
    document = verdict_to_dict(classify(137, [KERNEL], pid=42))
    assert list(document) == [
        "code",
        "signal",
        "category",
        "summary",
        "likely_causes",
        "next_steps",
        "evidence",
        "confidence",
    ]
    assert document["category"] == "oom_killed" and document["confidence"] == "certain"
    assert document["evidence"] == [{"source": "src-oom_kernel-42", "line": "line oom_kernel"}]
    json.dumps(document)  # serialisable as is


def test_text_rendering() -> None:
    text = verdict_to_text(classify(137, [KERNEL], pid=42))
    assert text.splitlines()[0].startswith("exit status 137")
    assert "Evidence:\n  src-oom_kernel-42: line oom_kernel" in text
    assert "Evidence: none" in verdict_to_text(classify(0))


@pytest.mark.parametrize("confidence", list(Confidence), ids=lambda c: c.value)
def test_every_confidence_is_reachable(confidence: Confidence) -> None:
    code = {Confidence.CERTAIN: -11, Confidence.LIKELY: 139, Confidence.AMBIGUOUS: 137}[confidence]
    assert classify(code).confidence is confidence


def _produce(kind: FindingKind) -> list[Finding]:
    from rayobs.diagnose._evidence import cgroup_findings, kernel_findings, reason_finding
    from rayobs.diagnose._raymsgs import exit_detail_findings, ray_log_findings

    evidence = Evidence("x", "y")
    samples: dict[FindingKind, list[Finding]] = {
        FindingKind.EXIT_STATUS: exit_detail_findings(
            "SYSTEM_ERROR", "exits with an exit code 3", "x"
        ),
        FindingKind.SIGNAL: kernel_findings("python[9]: segfault at 0 ip 0 sp 0 error 4", "x"),
        FindingKind.OOM_KUBERNETES: [reason_finding("OOMKilled", evidence)],
        FindingKind.OOM_KERNEL: kernel_findings("Out of memory: Killed process 9 (python)", "x"),
        FindingKind.OOM_CGROUP: cgroup_findings("memory.events", "oom_kill 1", "x"),
        FindingKind.NO_OOM_CGROUP: cgroup_findings("memory.events", "oom_kill 0", "x"),
        FindingKind.OOM_RAY: ray_log_findings(
            "Task was killed due to the node running low on memory.", "x"
        ),
        FindingKind.K8S_REASON: [reason_finding("Error", evidence)],
        FindingKind.RAY_KILLED: exit_detail_findings(None, "killed by `ray.kill`.", "x"),
        FindingKind.RAY_INIT_ERROR: exit_detail_findings(
            "USER_ERROR", "exception in the initialization method\nValueError: x", "x"
        ),
        FindingKind.RAY_EXIT: exit_detail_findings(
            "INTENDED_SYSTEM_EXIT", "Killing leased worker because its owner died.", "x"
        ),
        FindingKind.RAY_LOST: exit_detail_findings("SYSTEM_ERROR", "End of file.", "x"),
        FindingKind.SIGNAL_HANDLED: exit_detail_findings(
            "SYSTEM_ERROR", "Exit code: 1. The process receives a SIGTERM.", "x"
        ),
        FindingKind.RAY_NODE_DIED: exit_detail_findings(
            None, "the actor's node was preempted: spot instance reclaimed", "x"
        ),
    }
    if kind is FindingKind.K8S_EVICTED:
        from rayobs.diagnose._evidence import Termination, termination_findings

        evicted = Termination("ns/p", "c", "state", 137, "Error", pod_reason="Evicted")
        return termination_findings(evicted)
    return samples[kind]


@pytest.mark.parametrize("kind", list(FindingKind), ids=lambda k: k.value)
def test_every_finding_kind_is_produced_by_a_matcher(kind: FindingKind) -> None:
    assert kind in {f.kind for f in _produce(kind)}
