"""The examples in the integrations' docstrings run as written (and leave auto mode off)."""

from __future__ import annotations

import doctest
import importlib
from collections.abc import Iterator

import pytest

import rayobs.auto
from rayobs.integrations import data

MODULES = [
    "rayobs.integrations._patch",
    "rayobs.integrations._user_code",
    "rayobs.integrations.auto",
    "rayobs.integrations.data",
]


@pytest.fixture(autouse=True)
def _off(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("RAYOBS_TRACE", "RAYOBS_TRACE_EXPORTER", "RAYOBS_TRACE_SAMPLE_RATIO"):
        monkeypatch.delenv(name, raising=False)
    yield
    assert not rayobs.auto.is_instrumented() and not data.is_instrumented()


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0
    assert result.failed == 0
