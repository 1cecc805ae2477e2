"""``rayobs diagnose`` as a user runs it: whole processes, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rayobs.cli._options import OutputFormat
from tests.harness import free_port

SESSION = Path(__file__).parent / "data" / "ray-2.60-session"


def rayobs(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rayobs", "diagnose", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("output_format", list(OutputFormat), ids=lambda f: f.value)
def test_every_output_format(output_format: OutputFormat) -> None:
    result = rayobs("--session-dir", str(SESSION), "--format", output_format.value)
    assert result.returncode == 0, result.stderr
    if output_format is OutputFormat.JSON:
        document = json.loads(result.stdout)
        assert len(document["deaths"]) == 7
        assert {d["category"] for d in document["deaths"]} == {
            "killed",
            "segfault",
            "error",
            "oom_killed",
        }
    else:
        assert result.stdout.startswith("session ray-2.60-session: 7 dead workers")


def test_no_cluster_and_no_session_dir_fails_fast(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.update(RAY_ADDRESS=f"127.0.0.1:{free_port()}", RAY_TMPDIR=str(tmp_path))
    started = time.monotonic()
    result = rayobs(env=env)
    elapsed = time.monotonic() - started
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("rayobs: error: no Ray cluster at 127.0.0.1:")
    assert "--session-dir" in line
    assert elapsed < 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--session-dir", "EMPTY"], "no Ray logs"),
        (["--session-dir", "/nonexistent"], "not a directory"),
        (["--session-dir", str(SESSION), "--since", "yesterday"], "--since: expected"),
        (["--session-dir", str(SESSION), "--format", "yaml"], "'yaml' is not one of"),
        (["--timeout", "0"], "--timeout"),
        (["--address", "127.0.0.1"], "--address takes the cluster's GCS address HOST:PORT"),
        (["--bogus"], "No such option '--bogus'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    args = [str(tmp_path) if a == "EMPTY" else a for a in args]
    result = rayobs(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("rayobs: error: ")
    assert message in line
    assert "Traceback" not in result.stderr


def test_post_mortem_does_not_import_ray() -> None:
    code = (
        "import sys\n"
        "from rayobs.cli import main\n"
        "try:\n"
        f"    main(['diagnose', '--session-dir', {str(SESSION)!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('RAY', 'ray' in sys.modules, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert "RAY False" in result.stderr
