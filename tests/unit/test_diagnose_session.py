"""Post-mortem diagnosis of a copied session directory, and the merging of sources.

``data/ray-2.60-session`` holds excerpts of real Ray 2.60 session logs (paths
renamed): workers that SIGKILLed themselves, segfaulted (ctypes), called
sys.exit(3) and os._exit(1), an actor whose __init__ raised, an actor removed
with ray.kill, and a task killed by Ray's memory monitor.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rayobs.diagnose import Category, Confidence, EvidenceError, FindingKind
from rayobs.diagnose._diagnose import diagnose, parse_since
from rayobs.diagnose._evidence import Finding
from rayobs.diagnose._observation import Observation, merge
from rayobs.diagnose._render import diagnosis_to_dict, diagnosis_to_text
from rayobs.diagnose._session import read_session, records
from rayobs.diagnose._verdict import Evidence

SESSION = Path(__file__).parent / "data" / "ray-2.60-session"

EXPECTED = {
    # pid: (name, exit_type, category, confidence)
    6475: ("sigkill_self", "SYSTEM_ERROR", Category.KILLED, Confidence.AMBIGUOUS),
    6476: ("segv", "SYSTEM_ERROR", Category.SEGFAULT, Confidence.CERTAIN),
    6529: ("sysexit3", "SYSTEM_ERROR", Category.ERROR, Confidence.CERTAIN),
    6502: ("osexit1", "SYSTEM_ERROR", Category.KILLED, Confidence.AMBIGUOUS),
    6561: ("BadInit", "USER_ERROR", Category.ERROR, Confidence.CERTAIN),
    6590: ("Victim", "INTENDED_SYSTEM_EXIT", Category.KILLED, Confidence.CERTAIN),
    8224: ("hog_oom", "NODE_OUT_OF_MEMORY", Category.OOM_KILLED, Confidence.CERTAIN),
}


def test_every_death_in_the_session_and_its_verdict() -> None:
    report = diagnose(session_dir=SESSION)
    assert report.session == "ray-2.60-session"
    found = {
        d.pid: (d.name, d.exit_type, d.verdict.category, d.verdict.confidence)
        for d in report.deaths
    }
    assert found == EXPECTED
    times = [d.time for d in report.deaths]
    assert all(t is not None for t in times) and times == sorted(times)  # type: ignore[type-var]


def test_each_verdict_cites_its_lines() -> None:
    deaths = {d.pid: d for d in diagnose(session_dir=SESSION).deaths}
    segv = deaths[6476].verdict
    assert segv.signal == "SIGSEGV"
    assert any(
        e.source.startswith("worker-f6e324f3")
        and "Fatal Python error: Segmentation fault" in e.line
        for e in segv.evidence
    )
    oom = deaths[8224].verdict
    assert {e.source.split(":")[0] for e in oom.evidence} >= {"raylet.out", "gcs_server.out"}
    assert deaths[6529].verdict.code == 3
    assert "ValueError: boom in init" in deaths[6561].verdict.summary
    # The worker's own log says ray.kill: a routine-looking INTENDED_SYSTEM_EXIT still counts.
    assert deaths[6590].verdict.evidence[0].source.startswith("python-core-worker-53205e97")


def test_the_logs_directory_itself_works_too() -> None:
    report = diagnose(session_dir=SESSION / "logs")
    assert {d.pid for d in report.deaths} == set(EXPECTED)


def test_since_filters_by_the_recorded_time() -> None:
    oom_time = next(d.time for d in diagnose(session_dir=SESSION).deaths if d.pid == 8224)
    assert oom_time is not None
    later = diagnose(session_dir=SESSION, since=oom_time - 1)
    assert [d.pid for d in later.deaths] == [8224]
    assert diagnose(session_dir=SESSION, since=oom_time + 1).deaths == ()


def test_a_session_without_deaths(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    raylet = (SESSION / "logs" / "raylet.out").read_text().splitlines(keepends=True)
    (logs / "raylet.out").write_text("".join(raylet[:3]))  # start-up lines, no kills
    (logs / "gcs_server.out").write_text(
        "[2026-11-23 16:03:00,501 I 5613 5613] (gcs_server) gcs_server_main.cc:1: started\n"
    )
    report = diagnose(session_dir=tmp_path)
    assert report.deaths == ()
    assert "0 dead workers" in diagnosis_to_text(report)


def test_empty_or_missing_session_dirs_are_errors(tmp_path: Path) -> None:
    with pytest.raises(EvidenceError, match="no Ray logs"):
        diagnose(session_dir=tmp_path)
    (tmp_path / "logs").mkdir()
    with pytest.raises(EvidenceError, match="no Ray logs"):
        diagnose(session_dir=tmp_path)
    with pytest.raises(EvidenceError, match="not a directory"):
        diagnose(session_dir=tmp_path / "missing")


def test_json_shape() -> None:
    document = diagnosis_to_dict(diagnose(session_dir=SESSION))
    assert document["session"] == "ray-2.60-session"
    death = document["deaths"][0]
    for field in ("pid", "worker_id", "node", "name", "exit_type", "category", "summary"):
        assert field in death
    assert death["confidence"] in ("certain", "likely", "ambiguous")
    assert all(set(e) == {"source", "line"} for e in death["evidence"])


def test_multi_line_records(tmp_path: Path) -> None:
    log = tmp_path / "gcs_server.out"
    log.write_text(
        "[2026-11-23 16:03:30,749 W 1 1] (gcs_server) x.cc:1: first\n"
        "continued\n"
        "[2026-11-23 16:03:31,000 I 1 1] (gcs_server) x.cc:2: second\n"
    )
    got = list(records(log))
    assert [(n, text) for n, _, text in got] == [
        (1, "[2026-11-23 16:03:30,749 W 1 1] (gcs_server) x.cc:1: first\ncontinued"),
        (3, "[2026-11-23 16:03:31,000 I 1 1] (gcs_server) x.cc:2: second"),
    ]
    first, second = (stamp for _, stamp, _ in got)
    assert first is not None and second is not None
    assert second - first == pytest.approx(0.251)


def test_read_session_keeps_routine_exits_out() -> None:
    logs = read_session(SESSION)
    assert logs.node == "4b26cabe33fcf532d696d4f9e0eb2479b085c1d152a38ebb3713ccc7"
    merged = [o for o in merge(logs.observations) if o.ended and not o.routine]
    assert len(merged) == len(EXPECTED)


def test_merge_joins_by_worker_id_then_pid() -> None:
    trace = Finding(FindingKind.SIGNAL, Evidence("w.err:3", "x"), 7, None, 11, own=True)
    items = [
        Observation(worker_id="aa", exit_type="SYSTEM_ERROR", node="n1"),
        Observation(worker_id="aa", pid=7, node="n1", ended=False, name="f"),
        Observation(pid=7, node="n1", findings=(trace,)),
        Observation(worker_id="bb", exit_type="INTENDED_USER_EXIT", routine=True),
    ]
    first, second = merge(items)
    assert (first.worker_id, first.pid, first.name, first.findings) == ("aa", 7, "f", (trace,))
    assert first.ended and not first.routine
    assert second.routine


def test_parse_since() -> None:
    assert parse_since("90s", now=1000.0) == 910.0
    assert parse_since("1d", now=100_000.0) == 100_000.0 - 86_400
    assert parse_since("2026-11-23") == time.mktime(time.strptime("2026-11-23", "%Y-%m-%d"))
    with pytest.raises(ValueError, match="--since"):
        parse_since("yesterday")
