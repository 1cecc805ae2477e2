"""The instrumentors' machinery: patches that undo, and callbacks that wait for an import."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rayobs
from rayobs.integrations import _imports
from rayobs.integrations._patch import Patches


@pytest.fixture
def modules(tmp_path: Path) -> Iterator[Path]:
    """A directory on sys.path for throwaway modules, forgotten afterwards."""
    sys.path.insert(0, str(tmp_path))
    before = set(sys.modules)
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in set(sys.modules) - before:
            del sys.modules[name]
        importlib.invalidate_caches()


def test_a_callback_runs_once_the_module_has_run_and_the_finder_leaves(modules: Path) -> None:
    (modules / "rayobs_later.py").write_text("VALUE = 1\n")
    seen: list[Any] = []
    _imports.when_imported("rayobs_later", lambda m: seen.append((m.__name__, m.VALUE)))
    assert seen == [] and "rayobs_later" not in sys.modules
    import rayobs_later  # type: ignore[import-not-found]

    assert seen == [("rayobs_later", 1)]
    assert type(rayobs_later.__loader__).__name__ == "SourceFileLoader"  # its own loader
    assert rayobs_later.__spec__.loader is rayobs_later.__loader__
    assert _imports._FINDER not in sys.meta_path
    _imports.when_imported("rayobs_later", lambda m: seen.append("at once"))
    assert seen[-1] == "at once"


def test_submodules_and_forgotten_callbacks(modules: Path) -> None:
    package = modules / "rayobs_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "sub.py").write_text("NAME = 'sub'\n")
    seen: list[str] = []

    def forgotten(module: types.ModuleType) -> None:
        seen.append("forgotten")

    _imports.when_imported("rayobs_pkg.sub", lambda m: seen.append(m.NAME))
    _imports.when_imported("rayobs_pkg.sub", forgotten)
    _imports.forget(forgotten)
    import rayobs_pkg.sub  # type: ignore[import-not-found]  # noqa: F401

    assert seen == ["sub"]
    _imports.when_imported("rayobs_never_imported", forgotten)
    assert _imports._FINDER in sys.meta_path
    _imports.forget(forgotten)
    assert _imports._FINDER not in sys.meta_path


def test_a_failing_callback_never_breaks_the_import(modules: Path) -> None:
    (modules / "rayobs_fragile.py").write_text("OK = True\n")

    def broken(module: types.ModuleType) -> None:
        raise KeyError("not there")

    rayobs.configure(strict=True)  # an import has no caller to raise into: counted anyway
    _imports.when_imported("rayobs_fragile", broken)
    import rayobs_fragile  # type: ignore[import-not-found]

    assert rayobs_fragile.OK
    assert rayobs.recording_failures() == {("rayobs.auto", "patch rayobs_fragile", "KeyError"): 1}


class Base:
    def greet(self) -> str:
        return "hello"

    @staticmethod
    def kind() -> str:
        return "base"


def test_patches_undo_newest_first_and_leave_inherited_attributes_inherited() -> None:
    class Child(Base):
        pass

    patches = Patches()
    patches.replace(Child, "greet", lambda original: lambda self: original(self).upper())
    patches.replace(Child, "greet", lambda original: lambda self: original(self) + "!")
    patches.replace(Base, "kind", lambda original: staticmethod(lambda: "patched"))
    assert Child().greet() == "HELLO!" and Base.kind() == "patched"
    assert patches
    patches.undo()
    assert Child().greet() == "hello" and Base.kind() == "base"
    assert "greet" not in vars(Child)  # inherited again, not copied down
    assert isinstance(vars(Base)["kind"], staticmethod)
    assert not patches
    patches.undo()  # nothing left: nothing happens


def test_a_patch_replaced_by_someone_else_is_left_in_place(
    caplog: pytest.LogCaptureFixture,
) -> None:
    owner = types.SimpleNamespace(f=lambda: 1)
    patches = Patches()
    patches.replace(owner, "f", lambda original: lambda: original() + 1)
    theirs = lambda: 42  # noqa: E731
    owner.f = theirs
    patches.undo()
    assert owner.f is theirs
    assert "was replaced again after rayobs patched it" in caplog.text
