"""The cgroup OOM watcher: one sampler per cgroup, records that outlive the victim."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from rayobs import _oomwatch
from rayobs.diagnose import diagnose
from rayobs.diagnose._session import read_session
from tests.harness import wait_until


def _cgroup(tmp_path: Path, pids: list[int], kills: int = 0) -> Path:
    cgroup = tmp_path / "cg"
    cgroup.mkdir(exist_ok=True)
    (cgroup / "cgroup.procs").write_text("".join(f"{p}\n" for p in pids))
    (cgroup / "memory.oom_control").write_text(
        f"oom_kill_disable 0\nunder_oom 0\noom_kill {kills}\n"
    )
    return cgroup


def _logs(tmp_path: Path) -> Path:
    logs = tmp_path / "session" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return logs


def test_a_rise_is_written_with_the_process_gone(tmp_path: Path) -> None:
    victim = subprocess.Popen(["sleep", "30"])
    try:
        wait_until(lambda: _oomwatch._comm(victim.pid) == "sleep", 5, "sleep to exec")
        cgroup = _cgroup(tmp_path, [os.getpid(), victim.pid])
        watcher = _oomwatch.Watcher(cgroup, "memory.oom_control", _logs(tmp_path), "n1")
        assert watcher.tick() is None  # the first sample is the baseline
        _cgroup(tmp_path, [os.getpid()], kills=1)
        record = watcher.tick()
    finally:
        victim.kill()
        victim.wait()
    assert record is not None
    assert (record.before, record.after, record.node) == (0, 1, "n1")
    assert [pid for pid, _ in record.gone] == [victim.pid]
    assert record.gone[0][1] == "sleep"
    assert _oomwatch.parse_record(watcher.log.read_text().splitlines()[0]) == record


def test_the_next_holder_continues_from_the_stored_state(tmp_path: Path) -> None:
    cgroup = _cgroup(tmp_path, [os.getpid(), 999_999])
    logs = _logs(tmp_path)
    first = _oomwatch.Watcher(cgroup, "memory.oom_control", logs)
    first.tick()
    assert _oomwatch.Watcher(cgroup, "memory.oom_control", logs).tick() is None  # locked out
    os.close(first._fd or -1)  # the holder dies: the kernel frees its lock
    _cgroup(tmp_path, [os.getpid()], kills=1)
    record = _oomwatch.Watcher(cgroup, "memory.oom_control", logs).tick()
    assert record is not None and [pid for pid, _ in record.gone] == [999_999]


def test_no_record_for_kills_before_the_watch(tmp_path: Path) -> None:
    cgroup = _cgroup(tmp_path, [os.getpid()], kills=3)
    watcher = _oomwatch.Watcher(cgroup, "memory.oom_control", _logs(tmp_path))
    assert watcher.tick() is None and watcher.tick() is None
    assert not watcher.log.exists()


def test_post_mortem_reads_the_records(tmp_path: Path) -> None:
    logs = _logs(tmp_path)
    record = _oomwatch.OomRecord(1000.0, "/sys/fs/cgroup/memory/pod", 0, 1, ((4242, "ray::hog"),))
    (logs / "rayobs-oom-0123456789ab.log").write_text(record.line() + "\n")
    wid = "ab" * 28
    (logs / "gcs_server.out").write_text(
        "[2026-11-23 16:05:41,720 W 7781 7781] (gcs_server) gcs_worker_manager.cc:70: "
        f"Reporting worker exit, worker id = {wid}, node id = {'cd' * 28}, address = 127.0.0.1, "
        "exit_type = SYSTEM_ERROR, exit_detail = Worker unexpectedly exits with a connection "
        "error code 2. End of file.\n"
    )
    (logs / "raylet.out").write_text(f"Started worker process with pid 4242 worker_id={wid}\n")
    assert any(o.pid == 4242 and not o.ended for o in read_session(logs.parent).observations)
    (death,) = diagnose(session_dir=logs.parent).deaths
    assert (death.pid, death.verdict.category.value, death.verdict.confidence.value) == (
        4242,
        "oom_killed",
        "certain",
    )
    assert "gone: 4242 (ray::hog)" in death.verdict.evidence[0].line


def test_several_gone_for_one_kill_is_only_likely(tmp_path: Path) -> None:
    logs = _logs(tmp_path)
    record = _oomwatch.OomRecord(1000.0, "/cg", 0, 1, ((4242, "ray::hog"), (4343, "ray::IDLE")))
    (logs / "rayobs-oom-0123456789ab.log").write_text(record.line() + "\nnot json\n")
    (logs / "raylet.out").write_text("Started worker process with pid 4242 worker_id=" + "ab" * 28)
    found = [o for o in read_session(logs.parent).observations if o.findings]
    assert {o.pid for o in found} == {4242, 4343}
    assert all(f.pid is None for o in found for f in o.findings)


def test_the_hook_outside_a_ray_worker_reports_and_carries_on() -> None:
    # A fresh interpreter: the test process may be a Ray driver by now (the
    # session's cluster), and there the watch has a session to write into.
    code = textwrap.dedent(
        """
        import json, pytest
        from rayobs import hooks
        from rayobs.metrics import _failures

        with pytest.raises(ValueError, match="oom_watch_interval"):
            hooks.worker_hook(oom_watch_interval=-1)
        hooks.setup_worker(hooks.HookOptions(faulthandler=False, oom_watch_interval=0.1))
        print(json.dumps([list(key) for key in _failures.recording_failures()]))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    failures = json.loads(out.stdout.splitlines()[-1])
    assert any(key[0] == "rayobs.hooks" and "oom_watch" in key for key in failures), failures
