"""`rayobs demo` (what `make demo` runs) works end to end and shows every expected series."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.ray
def test_demo_prints_every_expected_series() -> None:
    env = dict(os.environ)
    out = subprocess.run(
        [sys.executable, "-m", "rayobs", "demo", "--wait", "45"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "every expected series arrived" in out.stdout
    for needle in (
        "ray_demo_failed_withdrawals_total",
        "ray_rayobs_calls_total",
        "exception=ZeroDivisionError",
        "name=Bank.withdraw,outcome=error",
    ):
        assert needle in out.stdout
    assert "Traceback" not in out.stderr
