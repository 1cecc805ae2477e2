"""A missing part skips a test on a developer's machine and fails it in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import requires
from tests.harness import REPO

OUTCOMES = [("", pytest.skip.Exception), ("true", pytest.fail.Exception)]


@pytest.mark.parametrize(("ci", "outcome"), OUTCOMES)
def test_a_missing_module_or_program(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match=r"needs the Python module no_such_module_rayobs.*\.\[otel\]"):
        requires.module("no_such_module_rayobs", "otel")
    with pytest.raises(outcome, match="needs the program no-such-program-rayobs: how"):
        requires.program("no-such-program-rayobs", "how")


def test_what_is_there_is_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert requires.module("json", "none").dumps(1) == "1"
    monkeypatch.setenv("PATH", "/nonexistent")  # the venv's bin is searched first anyway
    assert requires.program("python", "how") == str(Path(sys.executable).parent / "python")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("1", True), ("TRUE", True), ("", False), ("false", False), ("0", False)],
)
def test_what_counts_as_ci(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("CI", value)
    assert requires.in_ci() is expected


def test_a_module_level_requirement_skips_the_module_or_fails_the_ci_run(tmp_path: Path) -> None:
    (tmp_path / "test_needs.py").write_text(
        "from tests import requires\n"
        "requires.module('no_such_module_rayobs', 'grafana')\n"
        "def test_x():\n    pass\n"
    )
    runs = {}
    for ci in ("", "true"):
        runs[ci] = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             "--rootdir", str(tmp_path), str(tmp_path / "test_needs.py")],
            env={**os.environ, "PYTHONPATH": str(REPO), "CI": ci},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert "1 skipped" in runs[""].stdout
    assert runs["true"].returncode not in (0, 5)  # 5: nothing ran, which CI must not take
    assert "needs the Python module no_such_module_rayobs" in runs["true"].stdout
    assert "CI=true: every test must run" in runs["true"].stdout
