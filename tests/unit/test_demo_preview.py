"""The demo's preview step without a cluster: where each dashboard's PNG goes."""

from __future__ import annotations

import doctest
import subprocess
import sys

from rayobs.demo import preview


def test_docstring_examples() -> None:
    result = doctest.testmod(preview)
    assert result.attempted > 0
    assert result.failed == 0


def test_importing_it_imports_neither_ray_nor_the_dashboards() -> None:
    code = (
        "import sys, rayobs.demo.preview;"
        "print([m for m in ('ray', 'rayobs.dashboards') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
