"""The test cgroup is removed whatever happens to what runs inside it."""

from __future__ import annotations

import subprocess

from tests import cgroups, requires


def _usable() -> None:
    why = cgroups.unusable()
    if why is not None:
        requires.missing("a cgroup memory controller writable by this user", why)


def test_remove_moves_processes_back_home() -> None:
    _usable()
    cgroup = cgroups.MemoryCgroup.create(64 * 1024 * 1024)
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        cgroup.add(sleeper.pid)
        assert cgroup.pids() == [sleeper.pid]
        assert cgroup.oom_kills() == 0
        cgroup.remove()
        assert not cgroup.path.exists()
        assert sleeper.poll() is None  # moved out alive, not killed
        cgroup.remove()  # twice is fine
    finally:
        sleeper.kill()
        sleeper.wait()
        cgroup.remove()


def test_sweep_removes_what_a_dead_run_left() -> None:
    _usable()
    found = cgroups.memory_root()
    assert found is not None
    root, version = found
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid no run holds any more
    stale = cgroups.MemoryCgroup(root / f"{cgroups.PREFIX}{gone.pid}", version, root)
    stale.path.mkdir()
    orphan = subprocess.Popen(["sleep", "30"])
    try:
        stale.add(orphan.pid)
        assert stale.path in cgroups.sweep_stale()
        assert not stale.path.exists()
        assert orphan.wait(timeout=10) == -9  # what a dead run left inside is killed
    finally:
        orphan.kill()
        stale.remove()
