"""``rayobs inspect``: exit 0/1/2, one-line errors, text and JSON output."""

from __future__ import annotations

import json
import multiprocessing.pool
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from rayobs.cli import _inspect as _inspect_cli
from rayobs.cli import cli
from rayobs.cli._options import OutputFormat

JOBS = """
import threading
from multiprocessing.pool import ThreadPool

pool = ThreadPool(1)
LOCK = threading.Lock()


def special_business(x):
    def inc(y):
        return y + x

    return pool.map(inc, range(0, x))


def locked(x):
    with LOCK:
        return x


class Bank:
    _lock = threading.Lock()


def fine(x):
    return x + 1


if __name__ == "__main__":
    raise SystemExit("the __main__ block must not run")
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "jobs.py").write_text(JOBS)
    (tmp_path / "broken.py").write_text("def f(:\n    pass\n")
    (tmp_path / "imports_broken.py").write_text("import broken\n")
    (tmp_path / "raises.py").write_text("raise RuntimeError('no config\\nfound')\n")
    pkg = tmp_path / "inspect_cli_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "tasks.py").write_text(JOBS)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    # The command keeps loaded files alive until exit; a test process must not.
    for module in _inspect_cli._LOADED_FILES:
        pool = getattr(module, "pool", None)
        if isinstance(pool, multiprocessing.pool.Pool):
            pool.terminate()
    _inspect_cli._LOADED_FILES.clear()


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["inspect", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_not_serializable_exits_1_with_report(project: Path) -> None:
    code, out, _ = invoke("jobs.py:special_business")

    assert code == 1
    assert out.startswith("special_business is not serializable: 1 object cannot be pickled.")
    assert "[1] special_business.__globals__['pool']" in out
    assert "multiprocessing.pool.ThreadPool" in out


def test_serializable_exits_0(project: Path) -> None:
    code, out, _ = invoke("jobs.py:fine")
    assert (code, out) == (0, "fine is serializable.\n")


def test_qualname_reaches_into_classes(project: Path) -> None:
    code, out, _ = invoke("jobs.py:Bank", "--format", "json")
    assert code == 1
    assert [f["path"] for f in json.loads(out)["failures"]] == ["Bank._lock"]


def test_json_format_parses(project: Path) -> None:
    code, out, _ = invoke("jobs.py:locked", "--format", "json")

    document = json.loads(out)
    assert code == 1
    assert document["serializable"] is False
    assert document["root"] == "locked"
    assert [f["path"] for f in document["failures"]] == ["locked.__globals__['LOCK']"]


@pytest.mark.parametrize("member", list(OutputFormat))
def test_every_output_format(project: Path, member: OutputFormat) -> None:
    code, out, _ = invoke("jobs.py:fine", "--format", member.value)
    assert code == 0 and out.strip()


def test_importable_module_pickles_by_reference_unless_by_value(project: Path) -> None:
    try:
        assert invoke("inspect_cli_pkg.tasks:locked")[0] == 0
        code, out, _ = invoke("inspect_cli_pkg.tasks:locked", "--by-value", "--format", "json")
        assert code == 1
        assert json.loads(out)["failures"][0]["path"] == "locked.__globals__['LOCK']"
        # --by-value is undone afterwards.
        assert invoke("inspect_cli_pkg.tasks:locked")[0] == 0
    finally:
        for name in ("inspect_cli_pkg.tasks", "inspect_cli_pkg"):
            sys.modules.pop(name, None)


def test_max_depth_truncates(project: Path) -> None:
    code, out, _ = invoke("jobs.py:locked", "--max-depth", "0", "--format", "json")
    document = json.loads(out)
    assert code == 1
    assert document["truncated"] is True
    assert [f["path"] for f in document["failures"]] == ["locked"]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("jobs", "bad target 'jobs': expected MODULE:QUALNAME or path/to/file.py:NAME"),
        ("jobs.py:", "bad target 'jobs.py:': expected MODULE:QUALNAME or path/to/file.py:NAME"),
        ("jobs.py:a-b", "bad target 'jobs.py:a-b': 'a-b' is not a dotted Python name"),
        ("no.such.module:x", "cannot import module 'no.such.module': No module named 'no'"),
        ("bad-name:x", "bad module name 'bad-name': expected a dotted Python name"),
        ("missing.py:x", "no such file: missing.py"),
        ("jobs.py:nope", "jobs.py has no attribute 'nope'"),
        ("jobs.py:Bank.nope", "jobs.py.Bank has no attribute 'nope'"),
        ("broken.py:f", "syntax error in broken.py, line 1: invalid syntax"),
        ("broken:f", "line 1: invalid syntax"),
        ("imports_broken.py:x", "broken.py, line 1: invalid syntax"),
        ("raises.py:x", "running raises.py raised RuntimeError: no config found"),
    ],
)
def test_bad_input_exits_2_with_one_line(project: Path, target: str, message: str) -> None:
    try:
        code, out, err = invoke(target)
    finally:
        sys.modules.pop("broken", None)

    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("rayobs: error: ")
    assert message in err
    assert "Traceback" not in err


def test_real_process_exit_codes_and_no_traceback(project: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "rayobs", "inspect", *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=project,
        )

    bad = run("broken.py:f")
    assert bad.returncode == 2
    assert bad.stderr == "rayobs: error: syntax error in broken.py, line 1: invalid syntax\n"

    found = run("jobs.py:special_business", "--format", "json")
    assert found.returncode == 1, found.stderr
    assert json.loads(found.stdout)["failures"][0]["type"] == "multiprocessing.pool.ThreadPool"
    assert "Traceback" not in found.stderr


def test_help_lists_the_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert "inspect" in result.output
    help_text = CliRunner().invoke(cli, ["inspect", "--help"]).output
    assert "MODULE:QUALNAME" in help_text and "--max-depth" in help_text
    assert "--max-nodes" in help_text
