"""Tying what a node holds (kernel lines, cgroup counters) to the deaths on that node."""

from __future__ import annotations

from rayobs.diagnose import classify
from rayobs.diagnose._evidence import FindingKind
from rayobs.diagnose._nodes import NodeReport, needs_node_evidence, node_observations, report_from
from rayobs.diagnose._observation import Observation, merge
from rayobs.diagnose._probe import probe_node

NODE = "35e8d9ee610f17099cfbefa87d72c45ab3692c76ba901ac646272dbf"
KILLED = (
    "[ 5024.070738] Memory cgroup out of memory: Killed process 4242 (ray::hog) "
    "total-vm:2041260kB, anon-rss:609708kB oom_score_adj:1000"
)
OOM_CONTROL = "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n"
VANISHED = Observation(
    worker_id="ab" * 28, pid=4242, node=NODE, exit_type="SYSTEM_ERROR", time=1000.0
)


def _report(
    lines: tuple[tuple[float | None, str], ...] = (), error: str | None = None
) -> NodeReport:
    return NodeReport(
        NODE,
        kernel_source="/dev/kmsg",
        kernel_lines=lines,
        kernel_error=error,
        cgroups=(("/sys/fs/cgroup/memory/pod", "memory.oom_control", OOM_CONTROL),),
    )


def _verdict(report: NodeReport, death: Observation = VANISHED) -> tuple[str, str, list[str]]:
    found = node_observations({NODE: [death]}, [report])
    (item,) = merge([death, *found])
    verdict = classify(None, item.findings, pid=item.pid, worker_id=item.worker_id)
    return verdict.category.value, verdict.confidence.value, [e.line for e in verdict.evidence]


def test_a_kernel_line_naming_the_pid_is_certain_and_quotes_the_counter() -> None:
    category, confidence, lines = _verdict(_report(((1010.0, KILLED),)))
    assert (category, confidence) == ("oom_killed", "certain")
    assert KILLED in lines and "oom_kill 1" in lines


def test_a_kernel_line_about_another_pid_is_no_evidence() -> None:
    other = KILLED.replace("4242", "4343")
    category, _, lines = _verdict(_report(((1010.0, other),)))
    assert category != "oom_killed" and lines == []


def test_a_kernel_line_long_before_the_death_is_a_recycled_pid() -> None:
    category, _, lines = _verdict(_report(((1.0, KILLED),)))
    assert category != "oom_killed" and lines == []


def test_an_unreadable_kernel_log_leaves_the_counter_alone_likely() -> None:
    category, confidence, lines = _verdict(_report(error="/dev/kmsg: Permission denied"))
    assert (category, confidence) == ("oom_killed", "likely")
    assert lines == ["oom_kill 1"]


def test_a_node_without_an_answer_adds_nothing() -> None:
    report = NodeReport(NODE, error="the node is dead")
    assert node_observations({NODE: [VANISHED]}, [report]) == []
    assert report.note() == "node 35e8d9ee: no evidence (the node is dead)"


def test_only_unexplained_deaths_on_known_nodes_are_looked_up() -> None:
    explained = Observation(worker_id="cd" * 28, pid=7, node=NODE, exit_type="SYSTEM_ERROR")
    from rayobs.diagnose._evidence import Finding
    from rayobs.diagnose._verdict import Evidence

    signal = Finding(FindingKind.SIGNAL, Evidence("worker.err:3", "SIGSEGV"), pid=7, value=11)
    explained = Observation(**{**explained.__dict__, "findings": (signal,)})
    routine = Observation(worker_id="ef" * 28, pid=8, node=NODE, routine=True)
    nowhere = Observation(worker_id="01" * 28, pid=9)
    wanted = needs_node_evidence([VANISHED, explained, routine, nowhere])
    assert [item.pid for item in wanted[NODE]] == [4242]
    assert list(wanted) == [NODE]


def test_report_from_plain_data() -> None:
    raw = {
        "kernel": {"source": "dmesg", "error": None, "lines": [[1.0, KILLED]]},
        "cgroups": [{"path": "/cg", "files": {"memory.events": "oom_kill 2\n"}}],
    }
    report = report_from(NODE, raw)
    assert report.kernel_lines == ((1.0, KILLED),)
    assert report.cgroups == (("/cg", "memory.events", "oom_kill 2\n"),)
    assert report.note() == "node 35e8d9ee: dmesg (1 OOM/crash lines); memory cgroups: /cg"


def test_the_probe_on_this_machine_is_plain_data() -> None:
    raw = probe_node()
    kernel = raw["kernel"]
    assert kernel["source"] in ("/dev/kmsg", "dmesg")
    assert kernel["error"] or isinstance(kernel["lines"], list)
    assert all(isinstance(item["files"], dict) for item in raw["cgroups"])
    report_from(NODE, raw)  # what the node sends back is what the report reads
