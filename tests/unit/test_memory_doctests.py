"""The examples in the memory modules' docstrings run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "rayobs.memory",
    "rayobs.memory._analysis",
    "rayobs.memory._diff",
    "rayobs.memory._model",
    "rayobs.memory._units",
]


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0
    assert result.failed == 0
