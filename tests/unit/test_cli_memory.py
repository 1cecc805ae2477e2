"""``rayobs memory`` as a user runs it, without a cluster: diffs, choices, one-line errors.

Option and file errors run in process (click's runner); whatever imports Ray or
could leave a traceback on the terminal runs as a whole process. The dump
itself needs a cluster: see tests/integration/test_memory_ray.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from rayobs.cli import cli
from rayobs.cli._memory import diff_command, memory
from rayobs.cli._options import OutputFormat
from rayobs.memory import GroupBy, SortBy, Units, snapshot_to_dict
from rayobs.memory._render import to_json
from tests.harness import free_port
from tests.unit._memory_fixtures import ref, snapshot


def rayobs(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rayobs", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def invoke(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in this process, shaped like a finished subprocess."""
    result = CliRunner().invoke(cli, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("rayobs: error: ")
    assert "Traceback" not in result.stderr
    return line


@pytest.fixture
def snapshots(tmp_path: Path) -> tuple[Path, Path]:
    before = tmp_path / "before.json"
    after = tmp_path / "after.json"
    before.write_text(to_json(snapshot_to_dict(snapshot())))
    grown = list(snapshot().refs)
    grown.extend(ref(f"{i:056x}", size_bytes=10_000, call_site="cache.py:7") for i in range(30))
    after.write_text(to_json(snapshot_to_dict(snapshot(grown))))
    return before, after


def _choices(command: click.Command, name: str) -> list[str]:
    option = next(p for p in command.params if p.name == name)
    assert isinstance(option.type, click.Choice)
    return list(option.type.choices)


def test_the_choices_are_the_enums() -> None:
    assert _choices(memory, "group_by") == [g.value for g in GroupBy]
    assert _choices(memory, "sort_by") == [s.value for s in SortBy]
    assert _choices(memory, "units") == [u.value for u in Units]
    assert _choices(memory, "output_format") == [f.value for f in OutputFormat]
    assert _choices(diff_command, "output_format") == [f.value for f in OutputFormat]


@pytest.mark.parametrize("output_format", list(OutputFormat), ids=lambda f: f.value)
def test_diff_in_every_format(snapshots: tuple[Path, Path], output_format: OutputFormat) -> None:
    result = rayobs("memory", "diff", *map(str, snapshots), "--format", output_format.value)
    assert result.returncode == 0, result.stderr
    if output_format is OutputFormat.JSON:
        document: dict[str, Any] = json.loads(result.stdout)
        assert (document["new_objects"], document["new_bytes"]) == (30, 300_000)
        assert document["by_callsite"][0]["key"] == "cache.py:7"
        assert document["by_callsite"][0]["delta_refs"] == 30
    else:
        assert "new objects: 30 (300.00 KB)" in result.stdout
        assert "cache.py:7" in result.stdout.split("By reference type:")[0]


def test_table_is_still_text(snapshots: tuple[Path, Path]) -> None:
    """`table` was the name of the text format: scripts that say so keep working."""
    text = invoke("memory", "diff", *map(str, snapshots), "--format", "text")
    table = invoke("memory", "diff", *map(str, snapshots), "--format", "table")
    assert (table.returncode, table.stdout) == (0, text.stdout)


@pytest.mark.parametrize("units", list(Units), ids=lambda u: u.value)
def test_diff_in_every_unit(snapshots: tuple[Path, Path], units: Units) -> None:
    result = invoke("memory", "diff", *map(str, snapshots), "--units", units.value, "--top", "1")
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.endswith("cache.py:7"))
    expected = {"B": "+300000 B", "KB": "+300.00 KB", "MB": "+0.30 MB", "GB": "+0.00 GB"}
    assert row.split()[0] + " " + row.split()[1] == expected.get(units.value, "+300.00 KB")


def test_diff_writes_to_a_file(snapshots: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "diff.json"
    result = invoke("memory", "diff", *map(str, snapshots), "--format", "json", "-o", str(out))
    assert (result.returncode, result.stdout) == (0, "")
    assert json.loads(out.read_text())["new_objects"] == 30


def test_unwritable_output(snapshots: tuple[Path, Path], tmp_path: Path) -> None:
    line = one_line_error(
        invoke("memory", "diff", *map(str, snapshots), "-o", str(tmp_path / "no" / "x.json"))
    )
    assert "cannot write" in line


def test_diff_of_bad_files(tmp_path: Path, snapshots: tuple[Path, Path]) -> None:
    good = str(snapshots[0])
    malformed = tmp_path / "malformed.json"
    malformed.write_text('{"kind": "rayobs.memory", "version": 1, "refs": [')
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"deaths": []}))
    truncated = tmp_path / "truncated.json"
    document = json.loads(snapshots[0].read_text())
    del document["refs"][0]["object_id"]
    truncated.write_text(json.dumps(document))
    cases = {
        str(tmp_path / "missing.json"): "No such file or directory",
        str(tmp_path): "Is a directory",
        str(malformed): "is not JSON",
        str(other): "is not a rayobs memory snapshot",
        str(truncated): "refs[0]: missing 'object_id'",
    }
    for path, phrase in cases.items():
        assert phrase in one_line_error(invoke("memory", "diff", good, path))
        assert phrase in one_line_error(invoke("memory", "diff", path, good))


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["memory", "--group-by", "stack"], "Invalid value for '--group-by'"),
        (["memory", "--sort-by", "size,pid"], "Invalid value for '--sort-by'"),
        (["memory", "--units", "TB"], "Invalid value for '--units'"),
        (["memory", "--format", "yaml"], "Invalid value for '--format'"),
        (["memory", "--top", "0"], "Invalid value for '--top'"),
        (["memory", "--top", "many"], "Invalid value for '--top'"),
        (["memory", "--timeout", "0"], "Invalid value for '--timeout'"),
        (["memory", "--no-such-flag"], "No such option '--no-such-flag'"),
        (["memory", "--large-ref", "huge"], "--large-ref: not a size"),
        (["memory", "leaks"], "No such command 'leaks'"),
        (["memory", "diff", "a.json"], "Missing argument 'B.json'"),
        (["memory", "diff", "a.json", "b.json", "c.json"], "Got unexpected extra argument"),
        (["memory", "diff", "a", "b", "--group-by", "node"], "No such option '--group-by'"),
        (["memory", "snapshot"], "Missing option '--output'"),
        (["memory", "--format", "json", "diff", "a", "b"], "--format does not apply"),
        (["memory", "--top", "3", "snapshot", "-o", "x"], "--top does not apply"),
        (["memory", "--address", "127.0.0.1:1", "diff", "a", "b"], "--address does not apply"),
        (["memory", "--address", "ftp://127.0.0.1:8265"], "--address takes the cluster's GCS"),
        (["memory", "--address", "ray://127.0.0.1:10001"], "is a Ray Client address"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else "",
)
def test_bad_options_are_one_line(args: list[str], phrase: str) -> None:
    assert phrase in one_line_error(invoke(*args))


def _no_cluster_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    env["RAY_TMPDIR"] = str(tmp_path)
    return env


@pytest.mark.parametrize("command", [["memory"], ["memory", "snapshot", "-o", "x.json"]])
def test_no_cluster_at_the_address(tmp_path: Path, command: list[str]) -> None:
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    line = one_line_error(rayobs(*command, "--address", address, env=_no_cluster_env(tmp_path)))
    assert time.monotonic() - started < 10
    assert line == f"rayobs: error: no Ray cluster at {address}: nothing listens on that port"
    assert not (tmp_path / "x.json").exists()


def test_no_dashboard_at_the_url(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    line = one_line_error(rayobs("memory", "--address", url, env=_no_cluster_env(tmp_path)))
    assert time.monotonic() - started < 10
    assert line == f"rayobs: error: no Ray cluster at {url}: nothing listens on that port"


def test_no_cluster_at_ray_address(tmp_path: Path) -> None:
    env = _no_cluster_env(tmp_path)
    env["RAY_ADDRESS"] = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    line = one_line_error(rayobs("memory", "--stats-only", env=env))
    assert time.monotonic() - started < 10
    assert "nothing listens on that port" in line


def test_a_token_file_that_cannot_be_read(tmp_path: Path) -> None:
    """Ray itself aborts with a C++ stack trace here; rayobs says what is wrong."""
    env = _no_cluster_env(tmp_path)
    env["RAY_AUTH_TOKEN_PATH"] = str(tmp_path / "no-token")
    line = one_line_error(rayobs("memory", "--address", f"127.0.0.1:{free_port()}", env=env))
    assert "RAY_AUTH_TOKEN_PATH names" in line and "cannot be read" in line


def test_help_lists_the_subcommands_without_importing_ray() -> None:
    code = (
        "import sys\n"
        "from rayobs.cli import main\n"
        "try:\n"
        "    main(['memory', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('RAY IMPORTED' if 'ray' in sys.modules else 'ray not imported')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.rstrip().endswith("ray not imported")
    assert "snapshot" in result.stdout and "diff" in result.stdout
    top = rayobs("--help")
    assert "memory" in top.stdout
