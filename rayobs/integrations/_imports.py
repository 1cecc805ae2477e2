"""Run a function once a module has been imported, without importing it first.

Auto mode patches Ray where Ray defines things, but importing rayobs must not
import Ray (nor Ray Data, which is slower still). So the patch waits for the
program's own ``import ray``: a finder at the front of ``sys.meta_path`` lets
the normal finders locate the module, and wraps its loader so that the
callbacks run right after the module's code, before the importer gets it.

A module imported already gets its callbacks at once.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from rayobs.metrics import _failures

Callback = Callable[[ModuleType], None]

_lock = threading.RLock()
_waiting: dict[str, list[Callback]] = {}


def when_imported(name: str, callback: Callback) -> None:
    """Call ``callback(module)`` once ``name`` is imported (now, if it already is)."""
    with _lock:
        module = sys.modules.get(name)
        if module is None:
            _waiting.setdefault(name, []).append(callback)
            if _FINDER not in sys.meta_path:
                sys.meta_path.insert(0, _FINDER)
            return
    _run(callback, module)


def forget(callback: Callback) -> None:
    """Drop ``callback`` wherever it still waits; the finder goes once nothing waits."""
    with _lock:
        for name in list(_waiting):
            _waiting[name] = [c for c in _waiting[name] if c is not callback]
            if not _waiting[name]:
                del _waiting[name]
        if not _waiting and _FINDER in sys.meta_path:
            sys.meta_path.remove(_FINDER)


def _run(callback: Callback, module: ModuleType) -> None:
    with _failures.in_background():  # someone's import: no caller to raise into
        try:
            callback(module)
        except Exception as exc:
            _failures.report("rayobs.auto", f"patch {module.__name__}", exc)


def _imported(name: str, module: ModuleType) -> None:
    with _lock:
        callbacks = _waiting.pop(name, [])
        if not _waiting and _FINDER in sys.meta_path:
            sys.meta_path.remove(_FINDER)
    for callback in callbacks:
        _run(callback, module)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loader the other finders return for a waited name."""

    def __init__(self) -> None:
        self._busy = threading.local()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _waiting or getattr(self._busy, "name", None) == fullname:
            return None
        self._busy.name = fullname  # the search below asks this finder again
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._busy.name = None
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _Loader(spec.loader, fullname)
        return spec


class _Loader(importlib.abc.Loader):
    """The module's own loader, then the callbacks; the module keeps its own loader."""

    def __init__(self, loader: Any, name: str) -> None:
        self._loader = loader
        self._name = name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self._loader.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        spec = module.__spec__
        if spec is not None:
            spec.loader = self._loader
        module.__loader__ = self._loader
        self._loader.exec_module(module)
        _imported(self._name, module)

    def __getattr__(self, name: str) -> Any:  # get_code, is_package, resource readers...
        return getattr(self._loader, name)


_FINDER = _Finder()
