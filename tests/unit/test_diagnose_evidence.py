"""Evidence sources: kernel log excerpts, cgroup files, Kubernetes pod JSON, files and stdin."""

# Log lines below are verbatim: their length is the kernel's and Ray's, not ours.
# ruff: noqa: E501

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from rayobs.diagnose import Category, Confidence, EvidenceError, FindingKind, explain_exit_code
from rayobs.diagnose._collect import read_cgroup, read_kernel_log, read_pod
from rayobs.diagnose._evidence import cgroup_findings, kernel_findings, pod_terminations

# A cgroup v2 memcg OOM kill as recent kernels print it (dmesg -T).
KERNEL_MEMCG = """\
[Sun Nov 23 16:01:02 2026] ray::hog invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0
[Sun Nov 23 16:01:02 2026] memory: usage 2097152kB, limit 2097152kB, failcnt 112
[Sun Nov 23 16:01:02 2026] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=cri-containerd-3f2a.scope,mems_allowed=0,oom_memcg=/kubepods.slice/kubepods-burstable.slice/pod1d2e,task_memcg=/kubepods.slice/kubepods-burstable.slice/pod1d2e/cri-containerd-3f2a.scope,task=ray::hog,pid=4242,uid=1000
[Sun Nov 23 16:01:02 2026] Memory cgroup out of memory: Killed process 4242 (ray::hog) total-vm:10485760kB, anon-rss:2080000kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:4500kB oom_score_adj:985
[Sun Nov 23 16:01:02 2026] oom_reaper: reaped process 4242 (ray::hog), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB
"""
# The older, system-wide wording (kernels before 5.x).
KERNEL_OLD = """\
[123456.789012] Out of memory: Kill process 5151 (python) score 912 or sacrifice child
[123456.790000] Killed process 5151 (python) total-vm:8123456kB, anon-rss:7000000kB, file-rss:0kB
"""
KERNEL_SEGFAULT = (
    "[Sun Nov 23 16:05:00 2026] python[6161]: segfault at 0 ip 00007f3a5c2b1ad8 "
    "sp 00007ffd2a1b0c48 error 4 in libc.so.6[7f3a5c190000+195000]\n"
)
KERNEL_QUIET = "[    1.297771] random: crng reseeded due to virtual machine fork\n"


def test_kernel_memcg_kill_names_the_pid() -> None:
    found = kernel_findings(KERNEL_MEMCG, "dmesg")
    assert [(f.kind, f.pid) for f in found] == [(FindingKind.OOM_KERNEL, 4242)] * 3
    assert [f.evidence.source for f in found] == ["dmesg:3", "dmesg:4", "dmesg:5"]
    # "invoked oom-killer" names the process that asked for memory, not the victim.
    assert all("invoked" not in f.evidence.line for f in found)


def test_kernel_old_wording() -> None:
    found = kernel_findings(KERNEL_OLD, "kern.log")
    assert [(f.kind, f.pid) for f in found] == [(FindingKind.OOM_KERNEL, 5151)] * 2


def test_kernel_segfault_line_is_a_signal_finding() -> None:
    (finding,) = kernel_findings(KERNEL_SEGFAULT, "dmesg")
    assert (finding.kind, finding.pid, finding.value) == (FindingKind.SIGNAL, 6161, 11)


def test_kernel_log_without_kills() -> None:
    assert kernel_findings(KERNEL_QUIET, "dmesg") == []


@pytest.mark.parametrize(
    ("pid", "confidence"),
    [(4242, Confidence.CERTAIN), (None, Confidence.LIKELY)],
)
def test_137_with_a_kernel_kill(tmp_path: Path, pid: int | None, confidence: Confidence) -> None:
    log = tmp_path / "dmesg.txt"
    log.write_text(KERNEL_QUIET + KERNEL_MEMCG)
    verdict = explain_exit_code(137, kernel_log=str(log), pid=pid)
    assert verdict.category is Category.OOM_KILLED
    assert verdict.confidence is confidence
    assert verdict.evidence[0].source == "dmesg.txt:4"
    assert "Killed process 4242" in " ".join(e.line for e in verdict.evidence)


def test_137_with_a_kernel_kill_of_another_pid_is_not_oom(tmp_path: Path) -> None:
    log = tmp_path / "dmesg.txt"
    log.write_text(KERNEL_MEMCG)
    verdict = explain_exit_code(137, kernel_log=str(log), pid=777)
    assert verdict.category is Category.KILLED
    assert verdict.confidence is Confidence.AMBIGUOUS
    assert verdict.evidence == ()
    assert any("pid 4242" in step for step in verdict.next_steps)


def test_kernel_log_from_stdin() -> None:
    verdict = explain_exit_code(-9, kernel_log="-", stdin=io.StringIO(KERNEL_OLD), pid=5151)
    assert (verdict.category, verdict.confidence) == (Category.OOM_KILLED, Confidence.CERTAIN)
    assert verdict.evidence[0].source == "stdin:1"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_stdin_from_a_terminal_is_refused_instead_of_waiting() -> None:
    with pytest.raises(EvidenceError, match="terminal"):
        read_kernel_log("-", stdin=_Tty())


# --- cgroup -----------------------------------------------------------------------------

V2_EVENTS_OOM = "low 0\nhigh 0\nmax 1289\noom 3\noom_kill 2\noom_group_kill 0\n"
V2_EVENTS_CLEAN = "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n"
V1_OOM_CONTROL = "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n"


def test_cgroup_v2_counter() -> None:
    (finding,) = cgroup_findings("memory.events", V2_EVENTS_OOM, "/sys/fs/cgroup")
    assert (finding.kind, finding.value) == (FindingKind.OOM_CGROUP, 2)
    assert finding.evidence.source == "/sys/fs/cgroup/memory.events:5"
    (clean,) = cgroup_findings("memory.events", V2_EVENTS_CLEAN, "cg")
    assert clean.kind is FindingKind.NO_OOM_CGROUP


def test_137_with_cgroup_v2_oom_kills_is_likely_oom(tmp_path: Path) -> None:
    (tmp_path / "memory.events").write_text(V2_EVENTS_OOM)
    verdict = explain_exit_code(137, cgroup=str(tmp_path))
    assert (verdict.category, verdict.confidence) == (Category.OOM_KILLED, Confidence.LIKELY)
    assert verdict.evidence[0].line == "oom_kill 2"


def test_137_with_cgroup_v1_oom_control(tmp_path: Path) -> None:
    (tmp_path / "memory.oom_control").write_text(V1_OOM_CONTROL)
    verdict = explain_exit_code(-9, cgroup=str(tmp_path))
    assert verdict.category is Category.OOM_KILLED
    assert verdict.evidence[0].source.endswith("memory.oom_control:3")


def test_137_with_a_clean_cgroup_stays_ambiguous_but_says_so(tmp_path: Path) -> None:
    (tmp_path / "memory.events").write_text(V2_EVENTS_CLEAN)
    verdict = explain_exit_code(137, cgroup=str(tmp_path))
    assert (verdict.category, verdict.confidence) == (Category.KILLED, Confidence.AMBIGUOUS)
    assert "no OOM kill" in verdict.summary
    assert [e.line for e in verdict.evidence] == ["oom_kill 0"]


def test_cgroup_dir_without_memory_files(tmp_path: Path) -> None:
    with pytest.raises(EvidenceError, match=r"memory\.events"):
        read_cgroup(str(tmp_path))
    with pytest.raises(EvidenceError, match="not a directory"):
        read_cgroup(str(tmp_path / "missing"))


# --- Kubernetes -------------------------------------------------------------------------


def _pod(
    containers: list[dict[str, Any]],
    name: str = "raycluster-worker-7x2k",
    phase: str = "Running",
    **status: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "ray", "labels": {"ray.io/node-type": "worker"}},
        "spec": {
            "containers": [
                {"name": c["name"], "image": "rayproject/ray:2.60.0"} for c in containers
            ]
        },
        "status": {"phase": phase, "containerStatuses": containers, **status},
    }


def _container(name: str, **last: Any) -> dict[str, Any]:
    return {
        "name": name,
        "ready": True,
        "restartCount": 1,
        "state": {"running": {"startedAt": "2026-11-23T16:02:00Z"}},
        "lastState": {
            "terminated": {
                "containerID": "containerd://3f2a",
                "startedAt": "2026-11-23T15:00:00Z",
                "finishedAt": "2026-11-23T16:01:02Z",
                **last,
            }
        },
    }


OOM_POD = _pod([_container("ray-worker", exitCode=137, reason="OOMKilled")])
ERROR_137_POD = _pod([_container("ray-worker", exitCode=137, reason="Error")])
SEGV_POD = _pod([_container("ray-worker", exitCode=139, reason="Error", signal=11)])
EVICTED_POD = _pod(
    [
        {
            "name": "ray-worker",
            "state": {"terminated": {"exitCode": 137, "reason": "Error"}},
        }
    ],
    phase="Failed",
    reason="Evicted",
    message="The node was low on resource: memory. Threshold quantity: 100Mi, available: 88Mi.",
)
LIST = {
    "apiVersion": "v1",
    "kind": "List",
    "items": [ERROR_137_POD, OOM_POD | {"metadata": {"name": "head"}}],
}


def _write(tmp_path: Path, document: object) -> str:
    path = tmp_path / "pod.json"
    path.write_text(json.dumps(document))
    return str(path)


def test_pod_oomkilled_is_certain(tmp_path: Path) -> None:
    verdict = explain_exit_code(137, pod=_write(tmp_path, OOM_POD))
    assert (verdict.category, verdict.confidence) == (Category.OOM_KILLED, Confidence.CERTAIN)
    (evidence,) = verdict.evidence
    assert (
        evidence.source
        == "pod ray/raycluster-worker-7x2k container ray-worker lastState.terminated"
    )
    assert "reason=OOMKilled" in evidence.line and "exitCode=137" in evidence.line


def test_pod_error_137_stays_ambiguous(tmp_path: Path) -> None:
    verdict = explain_exit_code(137, pod=_write(tmp_path, ERROR_137_POD))
    assert (verdict.category, verdict.confidence) == (Category.KILLED, Confidence.AMBIGUOUS)
    assert "reason=Error" in verdict.evidence[0].line


def test_pod_signal_field_makes_a_segfault_certain(tmp_path: Path) -> None:
    verdict = explain_exit_code(139, pod=_write(tmp_path, SEGV_POD))
    assert (verdict.category, verdict.confidence) == (Category.SEGFAULT, Confidence.CERTAIN)


def test_pod_eviction_narrows_a_sigkill(tmp_path: Path) -> None:
    verdict = explain_exit_code(137, pod=_write(tmp_path, EVICTED_POD))
    assert (verdict.category, verdict.confidence) == (Category.KILLED, Confidence.LIKELY)
    assert "evicted" in verdict.summary
    assert any("low on resource: memory" in e.line for e in verdict.evidence)


def test_pod_list_picks_the_containers_with_that_code(tmp_path: Path) -> None:
    terminations = pod_terminations(LIST)
    assert [t.reason for t in terminations] == ["Error", "OOMKilled"]
    verdict = explain_exit_code(-9, pod=_write(tmp_path, LIST))
    # One of the two 137s was an OOM kill: that container's reason decides.
    assert verdict.category is Category.OOM_KILLED


def test_oomkilled_with_a_plain_status_is_likely(tmp_path: Path) -> None:
    pod = _pod([_container("ray-head", exitCode=1, reason="OOMKilled")])
    verdict = explain_exit_code(1, pod=_write(tmp_path, pod))
    assert (verdict.category, verdict.confidence) == (Category.OOM_KILLED, Confidence.LIKELY)
    assert "exited with status 1" in verdict.summary


def test_reason_flag_alone() -> None:
    assert explain_exit_code(137, reason="OOMKilled").confidence is Confidence.CERTAIN
    assert explain_exit_code(137, reason="oomkilled").category is Category.OOM_KILLED
    verdict = explain_exit_code(137, reason="Error")
    assert verdict.category is Category.KILLED
    assert verdict.evidence[0].source == "--reason"
    # OOMKilled with status 0 is not an OOM death.
    assert explain_exit_code(0, reason="OOMKilled").category is Category.SUCCESS


def test_container_cannot_run() -> None:
    verdict = explain_exit_code(127, reason="ContainerCannotRun")
    assert verdict.category is Category.NOT_FOUND
    assert "container runtime" in verdict.likely_causes[0]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "must be an object"),
        ({"kind": "Deployment"}, "expected a Pod"),
        ({"kind": "List", "items": "x"}, "no 'items' list"),
        ({"kind": "List", "items": [{"kind": "Service"}]}, "must be a Pod"),
        ({"kind": "Pod", "status": {"containerStatuses": {}}}, "must be a list"),
        (
            {"kind": "Pod", "status": {"containerStatuses": [{"lastState": {"terminated": {}}}]}},
            "exitCode must be an integer",
        ),
    ],
)
def test_malformed_pods(tmp_path: Path, document: object, message: str) -> None:
    with pytest.raises(EvidenceError, match=message):
        read_pod(_write(tmp_path, document))


def test_pod_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "pod.json"
    path.write_text("apiVersion: v1\nkind: Pod\n")
    with pytest.raises(EvidenceError, match="not valid JSON"):
        read_pod(str(path))


def test_pod_without_a_matching_termination(tmp_path: Path) -> None:
    with pytest.raises(EvidenceError, match=r"CODE 1 contradicts .*ray-worker=137 \(OOMKilled, "):
        explain_exit_code(1, pod=_write(tmp_path, OOM_POD))
    running = _pod([{"name": "ray-worker", "state": {"running": {}}}])
    with pytest.raises(EvidenceError, match="no terminated container"):
        explain_exit_code(137, pod=_write(tmp_path, running))


def test_only_one_source_can_read_stdin() -> None:
    with pytest.raises(EvidenceError, match="only one"):
        explain_exit_code(137, pod="-", kernel_log="-")
