"""The suite gives the same result however it was started: here with SIGINT and SIGTERM
ignored, as a script's `make test &` (INT) or a careless supervisor (TERM) leaves them."""

from __future__ import annotations

import subprocess
import sys

from tests.harness import REPO

# Tests that need the default SIGINT/SIGTERM in the processes they start.
NEED_THE_DEFAULTS = [
    "tests/unit/test_profiling_command.py::test_sigint_is_a_keyboard_interrupt_as_without_the_runner",
    "tests/unit/test_launch_cli.py::test_sigint_from_kill_is_forwarded_once",
    "tests/unit/test_launch_cli.py::test_sigterm_is_passed_on_and_profiles_are_flushed",
]


def test_tests_that_send_sigint_or_sigterm_pass_when_the_run_ignores_them() -> None:
    result = subprocess.run(
        ["bash", "-c", 'trap "" INT TERM; exec "$@"', "bash",
         sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *NEED_THE_DEFAULTS],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "4 passed" in result.stdout  # the forwarding test runs in two variants
