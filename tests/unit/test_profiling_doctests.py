"""The examples in the docstrings of the profiling and debugging modules run as written."""

from __future__ import annotations

import doctest
import importlib
from collections.abc import Iterator

import pytest

import rayobs.debug
import rayobs.hooks

MODULES = [
    "rayobs.debug",
    "rayobs.hooks",
    "rayobs.profiling._command",
    "rayobs.profiling._mprof",
    "rayobs.calls._memory",
    "rayobs.profiling._pstats",
]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("RAYOBS_PYCHARM", "RAYOBS_WORKER_CPROFILE_DIR", "RAYOBS_WORKER_RSS_INTERVAL"):
        monkeypatch.delenv(name, raising=False)
    rayobs.hooks._reset_for_tests()
    rayobs.debug._reset_for_tests()
    yield
    rayobs.hooks._reset_for_tests()
    rayobs.debug._reset_for_tests()


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0
    assert result.failed == 0
