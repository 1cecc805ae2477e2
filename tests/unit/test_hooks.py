"""The worker setup hook outside Ray: each feature, its configuration, and its failure policy."""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import rayobs
import rayobs.hooks
from rayobs.metrics import _catalog
from rayobs.testing import capture_metrics


@pytest.fixture(autouse=True)
def _fresh_hooks() -> Iterator[None]:
    rayobs.hooks._reset_for_tests()
    yield
    rayobs.hooks._reset_for_tests()


def run_python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_faulthandler_shows_every_thread_on_a_segfault() -> None:
    code = """
        import ctypes, threading, time
        import rayobs.hooks
        rayobs.hooks.setup_worker()
        threading.Thread(target=time.sleep, args=(30,), name="bystander", daemon=True).start()
        ctypes.string_at(0)
    """
    result = run_python(code)
    assert result.returncode == -11
    assert "Fatal Python error: Segmentation fault" in result.stderr
    # all_threads=True: the crashing thread is marked, and the sleeping one is listed too
    assert "Current thread 0x" in result.stderr
    assert "Thread 0x" in result.stderr.replace("Current thread 0x", "")


def test_faulthandler_can_be_turned_off() -> None:
    code = (
        "import faulthandler, rayobs.hooks\n"
        "rayobs.hooks.setup_worker()\n"
        "print(faulthandler.is_enabled())"
    )
    assert run_python(code, {"RAYOBS_FAULTHANDLER": "0"}).stdout == "False\n"
    assert run_python(code).stdout == "True\n"


def test_cprofile_written_at_exit_and_periodically(tmp_path: Path) -> None:
    code = """
        import time
        import rayobs.hooks
        rayobs.hooks.CPROFILE_SNAPSHOT_SECONDS = 0.2
        rayobs.hooks.setup_worker()
        def a_task():
            return sum(range(10_000))
        a_task()
        time.sleep(1.0)
        import os, glob
        print(len(glob.glob(os.path.join(os.environ["RAYOBS_WORKER_CPROFILE_DIR"], "*.prof"))))
        os._exit(0)  # like Ray ending a worker: no atexit
    """
    result = run_python(code, {"RAYOBS_WORKER_CPROFILE_DIR": str(tmp_path / "prof")})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "1\n"  # the periodic snapshot was already there
    [path] = (tmp_path / "prof").glob("worker-*.prof")
    names = {name for (_, _, name) in marshal.loads(path.read_bytes())}
    assert "a_task" in names


def test_rss_gauges_are_set_from_a_daemon_thread() -> None:
    with capture_metrics() as metrics:
        rayobs.hooks.setup_worker(rayobs.hooks.HookOptions(rss_interval=0.05))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not metrics.value(_catalog.WORKER_RSS_PEAK.name):
            time.sleep(0.02)  # the peak is set right after the current value
        rss = metrics.value(_catalog.WORKER_RSS.name)
        peak = metrics.value(_catalog.WORKER_RSS_PEAK.name)
    assert rss is not None and 10e6 < rss < 10e9
    assert peak is not None and peak >= rss


def test_bad_settings_are_reported_once_and_the_worker_carries_on() -> None:
    code = """
        import faulthandler, logging, threading
        logging.basicConfig()
        import rayobs, rayobs.hooks
        rayobs.hooks.setup_worker()
        rayobs.hooks.setup_worker()
        print(sorted(rayobs.recording_failures().items()))
        print(faulthandler.is_enabled(), [t.name for t in threading.enumerate()])
    """
    result = run_python(code, {"RAYOBS_WORKER_RSS_INTERVAL": "soon", "RAYOBS_PYCHARM": "nope"})
    assert result.returncode == 0, result.stderr
    failures, state = result.stdout.splitlines()
    # counted on each call; the debugger step ran once ("nope" has no port)
    assert failures == (
        "[(('rayobs.hooks', 'config', 'ValueError'), 2), "
        "(('rayobs.hooks', 'pycharm', 'ValueError'), 1)]"
    )
    assert state == "True ['MainThread']"  # faulthandler on, no sampler, no debugger
    assert result.stderr.count("RAYOBS_WORKER_RSS_INTERVAL='soon'") == 1  # logged once


def test_a_failing_step_does_not_stop_the_others(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code = """
        import faulthandler, rayobs, rayobs.hooks
        rayobs.hooks.setup_worker()
        print(faulthandler.is_enabled(), sorted(rayobs.recording_failures()))
    """
    result = run_python(code, {"RAYOBS_WORKER_CPROFILE_DIR": str(blocker / "prof")})
    assert result.returncode == 0
    assert result.stdout == "True [('rayobs.hooks', 'cprofile', 'NotADirectoryError')]\n"


def test_worker_hook_is_a_named_function_ray_can_ship(tmp_path: Path) -> None:
    from ray import cloudpickle  # what Ray pickles a callable setup hook with

    hook = rayobs.hooks.worker_hook(cprofile_dir=tmp_path, rss_interval=0)
    assert hook.__name__ == "rayobs_worker_hook"  # Ray reads it when exporting the hook
    code = f"""
        from ray import cloudpickle
        hook = cloudpickle.loads({cloudpickle.dumps(hook)!r})
        hook()
    """
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in tmp_path.glob("worker-*.prof")] != []  # written at exit
    with pytest.raises(ValueError, match="rss_interval"):
        rayobs.hooks.worker_hook(rss_interval=-1)


def test_setup_worker_also_sets_up_opentelemetry_from_the_environment(tmp_path: Path) -> None:
    code = (
        "import rayobs, rayobs.hooks; rayobs.hooks.setup_worker(); "
        "from rayobs.metrics import _registry; "
        "traced = rayobs.instrument(lambda: 1, trace=True, name='hooked'); traced(); "
        "import rayobs.otel; rayobs.otel.flush(); print(_registry.backend().name)"
    )
    env = {"RAYOBS_OTEL_METRICS": "memory", "RAYOBS_TRACE_EXPORTER": f"jsonl:{tmp_path}"}
    assert run_python(code, env).stdout == "otel\n"
    import rayobs.otel

    assert [s["name"] for s in rayobs.otel.read_spans(tmp_path)] == ["hooked"]
