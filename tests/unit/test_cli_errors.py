"""The CLI's one error path: any usage error of any command is one line and exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rayobs.cli import COMMANDS


def rayobs(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rayobs", *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_unknown_option_is_one_line_and_exit_2(command: str) -> None:
    out = rayobs(command, "--no-such-option")
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rayobs: error: "), out.stderr
    assert "Traceback" not in out.stderr


def test_unknown_command_and_bare_invocation() -> None:
    out = rayobs("no-such-command")
    assert out.returncode == 2
    assert (
        out.stderr.strip()
        == "rayobs: error: No such command 'no-such-command'. (see 'rayobs --help')"
    )
    bare = rayobs()
    assert bare.returncode == 0 and "Commands:" in bare.stdout


def test_every_command_has_help() -> None:
    for command in COMMANDS:
        out = rayobs(command, "--help")
        assert out.returncode == 0, (command, out.stderr)
        assert out.stdout.startswith("Usage: rayobs"), command
