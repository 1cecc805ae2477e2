"""The parts a test needs that a machine may lack: skipped on a laptop, a failure in CI.

``make test`` installs every part: the extras and kubectl into the venv, Debian's
``prometheus`` package (with ``promtool``) when run as root. A test that needs
one asks for it here, at module level or inside the test::

    sdk = requires.module("grafana_foundation_sdk", "grafana")
    promtool = requires.program("promtool", DEBIAN_PROMETHEUS)

Where the part is missing the test is skipped with how to get it, except under
CI (``CI=true``, as ``.ci/run`` is started), where it fails with the same
reason: there a missing part is a broken install, never a quiet skip. Skips
about the machine itself (root reads any file) stay plain ``pytest.skip``.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

VENV_BIN = Path(sys.executable).parent
DEBIAN_PROMETHEUS = (
    "`make test` installs Debian's prometheus package when run as root; "
    "otherwise: sudo apt-get install prometheus"
)


def in_ci() -> bool:
    """True when the environment says CI (``CI=true``, ``CI=1``), as CI runners set it."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing(what: str, how: str) -> NoReturn:
    """Skip the test (or the whole module) for lack of ``what``; fail instead under CI."""
    reason = f"needs {what}: {how}"
    if in_ci():
        pytest.fail(f"{reason} (CI=true: every test must run)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def module(name: str, extra: str) -> ModuleType:
    """Import ``name``, which the ``extra`` of rayobs installs."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"the Python module {name} ({exc})", f"pip install -e '.[{extra}]'")


def program(name: str, how: str) -> str:
    """The path of the program ``name``, looked up in this venv's bin first, then on PATH."""
    found = shutil.which(name, path=os.pathsep.join((str(VENV_BIN), os.environ.get("PATH", ""))))
    if found is None:
        missing(f"the program {name}", how)
    return found
