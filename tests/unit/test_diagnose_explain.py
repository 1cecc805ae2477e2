"""``explain_exit_code`` with a pod and no code: which terminated state is explained, and why.

The pod documents follow ``kubectl get pod -o json`` for a KubeRay worker pod: an init
container (``wait-gcs-ready``) that completed, the Ray container, a logging sidecar.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from rayobs.diagnose import Category, Confidence, EvidenceError, explain_exit_code
from rayobs.diagnose._evidence import pod_terminations
from rayobs.diagnose._explain import latest_termination


def _terminated(code: int, reason: str | None = None, finished: str | None = None) -> Any:
    state: dict[str, Any] = {"exitCode": code}
    if reason:
        state["reason"] = reason
    if finished:
        state["finishedAt"] = finished
    return {"terminated": state}


def _pod(*containers: dict[str, Any], init: bool = True) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": "Running", "containerStatuses": list(containers)}
    if init:
        status["initContainerStatuses"] = [
            {
                "name": "wait-gcs-ready",
                "state": _terminated(0, "Completed", "2026-11-23T15:58:02Z"),
            }
        ]
    return {"kind": "Pod", "metadata": {"name": "w", "namespace": "ray"}, "status": status}


RAY_OOM = {
    "name": "ray-worker",
    "restartCount": 1,
    "state": {"running": {"startedAt": "2026-11-23T16:05:50Z"}},
    "lastState": _terminated(137, "OOMKilled", "2026-11-23T16:05:41Z"),
}
SIDECAR_FAILED_LATER = {
    "name": "fluent-bit",
    "state": _terminated(1, "Error", "2026-11-23T16:07:00Z"),
}


def _explain(document: dict[str, Any], code: int | None = None, **options: Any) -> Any:
    return explain_exit_code(code, pod="-", stdin=io.StringIO(json.dumps(document)), **options)


def test_the_pod_supplies_the_code_and_the_verdict_names_the_container() -> None:
    verdict = _explain(_pod(RAY_OOM))
    assert (verdict.code, verdict.category, verdict.confidence) == (
        137,
        Category.OOM_KILLED,
        Confidence.CERTAIN,
    )
    assert verdict.summary.startswith(
        "container ray-worker of pod ray/w, previous run: exit status 137 (128 + SIGKILL): "
        "Kubernetes reports OOMKilled"
    )
    assert verdict.evidence[0].source == "pod ray/w container ray-worker lastState.terminated"
    # The init container that completed is not worth a mention.
    assert not any("other failures" in step for step in verdict.next_steps)


def test_a_code_alone_in_the_pod_is_evidence_too() -> None:
    """No reason, no signal: the status the pod recorded is still cited."""
    bare = {**RAY_OOM, "lastState": _terminated(139)}
    verdict = _explain(_pod(bare, init=False))
    assert (verdict.code, verdict.category) == (139, Category.SEGFAULT)
    assert verdict.evidence[0].line == "exitCode=139"


def test_the_latest_failure_is_explained_and_the_others_named() -> None:
    verdict = _explain(_pod(RAY_OOM, SIDECAR_FAILED_LATER))
    assert verdict.code == 1
    assert verdict.summary.startswith("container fluent-bit of pod ray/w, latest run:")
    assert verdict.next_steps[-1].startswith(
        "the pod records other failures too: ray-worker=137 (OOMKilled, previous run)"
    )
    chosen = _explain(_pod(RAY_OOM, SIDECAR_FAILED_LATER), container="ray-worker")
    assert (chosen.code, chosen.category) == (137, Category.OOM_KILLED)
    assert not any("other failures" in step for step in chosen.next_steps)


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        # A failure before a success, whatever their order or time.
        ([("state", 0, "2026-11-23T16:09:00Z"), ("lastState", 137, "2026-11-23T16:05:41Z")], 137),
        # Of two failures, the latest.
        ([("state", 1, "2026-11-23T16:09:00Z"), ("lastState", 137, "2026-11-23T16:05:41Z")], 1),
        # Without times: the current state before lastState.
        ([("lastState", 137, None), ("state", 143, None)], 143),
        # All successes: the latest.
        ([("state", 0, "2026-11-23T16:09:00Z"), ("lastState", 0, "2026-11-23T16:05:41Z")], 0),
    ],
)
def test_which_termination_is_explained(
    states: list[tuple[str, int, str | None]], expected: int
) -> None:
    container: dict[str, Any] = {"name": "ray-worker"}
    for state, code, finished in states:
        container[state] = _terminated(code, finished=finished)
    chosen, others = latest_termination(pod_terminations(_pod(container, init=False)))
    assert chosen.exit_code == expected
    assert len(others) == len(states) - 1


def test_a_list_of_pods() -> None:
    other = {**_pod(SIDECAR_FAILED_LATER, init=False), "metadata": {"name": "v"}}
    document = {"kind": "List", "items": [_pod(RAY_OOM), other]}
    verdict = _explain(document, container="ray-worker")
    assert verdict.summary.startswith("container ray-worker of pod ray/w, previous run:")


def test_a_code_that_matches_the_pod_is_explained_as_before() -> None:
    verdict = _explain(_pod(RAY_OOM), 137)
    assert verdict.summary.startswith("exit status 137 (128 + SIGKILL): Kubernetes reports")
    assert _explain(_pod(RAY_OOM), -9).category is Category.OOM_KILLED  # -9 is 137


@pytest.mark.parametrize(
    ("document", "code", "options", "message"),
    [
        (
            _pod(RAY_OOM),
            143,
            {},
            "--pod: CODE 143 contradicts stdin, where no terminated container exited with it "
            "(found: wait-gcs-ready=0 (Completed, latest run), ray-worker=137 (OOMKilled, "
            "previous run)); leave CODE out to explain what the pod recorded",
        ),
        (
            _pod(RAY_OOM, SIDECAR_FAILED_LATER),
            1,
            {"container": "ray-worker"},
            "--pod: CODE 1 contradicts stdin",
        ),
        (
            _pod(RAY_OOM),
            None,
            {"container": "ray-head"},
            "--container: no terminated state of a container named 'ray-head' in stdin "
            "(containers that terminated: wait-gcs-ready, ray-worker)",
        ),
        (
            _pod({"name": "ray-worker", "state": {"running": {}}}, init=False),
            None,
            {},
            "--pod: stdin has no terminated container state",
        ),
    ],
)
def test_a_pod_that_does_not_fit(
    document: dict[str, Any], code: int | None, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(EvidenceError) as info:
        _explain(document, code, **options)
    assert str(info.value).startswith(message)


def test_nothing_to_explain() -> None:
    with pytest.raises(EvidenceError, match=r"^no exit status to explain: give CODE, or --pod"):
        explain_exit_code(None, kernel_log="/dev/null")
    with pytest.raises(EvidenceError, match=r"^--container picks a container of --pod"):
        explain_exit_code(137, container="ray-worker")
