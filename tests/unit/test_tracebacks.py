"""The tests' "no rayobs frame in this traceback" check, wherever the checkout lives."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import rayobs
from tests.harness import REPO
from tests.tracebacks import rayobs_frames

# The tests that assert a clean traceback, run from a copy of the checkout.
CLEAN_TRACEBACK_TESTS = [
    "tests/unit/metrics/test_handles.py::test_timers_and_exception_counters_leave_tracebacks_clean",
    "tests/unit/calls/test_decorator.py::test_results_exceptions_and_tracebacks_are_unchanged",
    "tests/unit/tracing/test_tracing.py::test_exceptions_become_span_events_and_tracebacks_stay_clean",
]

PROBE = """
import traceback
from pathlib import Path

import pytest

from tests.tracebacks import PACKAGE_DIR, rayobs_frames


def users_code() -> None:
    raise KeyError("missing")


def test_the_user_frames_of_a_checkout_named_rayobs_are_not_rayobs() -> None:
    checkout = Path(__file__).resolve().parents[2]
    assert PACKAGE_DIR == checkout / "rayobs"  # the copy's package, not the installed one
    with pytest.raises(KeyError) as info:
        users_code()
    lines = traceback.format_exception(info.value)
    assert [line for line in lines if "rayobs" in line]  # what a search for the name finds
    assert rayobs_frames(info.value) == []
"""


def test_frames_of_rayobs_and_of_its_chained_causes_are_found() -> None:
    with pytest.raises(rayobs.MetricDefinitionError) as info:
        rayobs.Counter("not a valid name!", "d")
    assert any("_spec.py" in frame for frame in rayobs_frames(info.value))

    def users_code() -> None:
        try:
            rayobs.Counter("not a valid name!", "d")
        except rayobs.MetricDefinitionError as exc:
            raise RuntimeError("wrapped") from exc

    with pytest.raises(RuntimeError) as chained:
        users_code()
    assert any("_spec.py" in frame for frame in rayobs_frames(chained.value))
    assert rayobs_frames(KeyError("never raised")) == []


def test_the_checks_pass_in_a_checkout_whose_path_names_rayobs_twice(tmp_path: Path) -> None:
    checkout = tmp_path / "rayobs" / "rayobs"
    checkout.mkdir(parents=True)
    shutil.copy(REPO / "pyproject.toml", checkout)
    shutil.copytree(REPO / "rayobs", checkout / "rayobs", ignore=shutil.ignore_patterns("__py*"))
    (checkout / "tests" / "unit").mkdir(parents=True)
    needed = [p.name for p in (REPO / "tests").glob("*.py")] + ["unit/__init__.py"]  # conftest's
    for test in CLEAN_TRACEBACK_TESTS:
        path = Path(test.split("::")[0]).relative_to("tests")
        needed += [str(path), str(path.parent / "__init__.py")]  # its package too
    for name in needed:
        (checkout / "tests" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "tests" / name, checkout / "tests" / name)
    (checkout / "tests" / "unit" / "test_probe.py").write_text(textwrap.dedent(PROBE))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *CLEAN_TRACEBACK_TESTS,
         "tests/unit/test_probe.py"],
        cwd=checkout, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert f"{len(CLEAN_TRACEBACK_TESTS) + 1} passed" in result.stdout
