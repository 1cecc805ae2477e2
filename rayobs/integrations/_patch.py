"""Attribute replacements that can all be undone: every patch with its unpatch.

>>> import types
>>> owner = types.SimpleNamespace(greet=lambda: "hello")
>>> patches = Patches()
>>> patches.replace(owner, "greet", lambda original: lambda: original().upper())
>>> owner.greet()
'HELLO'
>>> patches.undo()
>>> owner.greet()
'hello'
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from rayobs.integrations import _imports

logger = logging.getLogger("rayobs")


@dataclass(frozen=True)
class _Applied:
    owner: Any
    name: str
    original: Any
    replacement: Any
    had_own: bool  # the attribute was the owner's own, not inherited from a base class


class Patches:
    """A stack of applied replacements; ``undo`` reverts them, newest first."""

    def __init__(self) -> None:
        self._applied: list[_Applied] = []
        self._lock = threading.Lock()

    def replace(self, owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        """Set ``owner.name`` to ``make(original)``; ``AttributeError`` if it has none."""
        original = getattr(owner, name)
        had_own = name in vars(owner)
        if had_own:
            original = vars(owner)[name]  # the descriptor itself (a staticmethod stays one)
        replacement = make(original)
        with self._lock:
            setattr(owner, name, replacement)
            self._applied.append(_Applied(owner, name, original, replacement, had_own))

    def undo(self) -> None:
        """Revert every replacement still in place, newest first.

        One that something else replaced in turn is left alone (removing it would
        remove theirs too) and logged.
        """
        with self._lock:
            applied, self._applied = self._applied, []
        for patch in reversed(applied):
            current = vars(patch.owner).get(patch.name)
            if current is not patch.replacement:
                logger.warning(
                    "rayobs: %s.%s was replaced again after rayobs patched it; left as it is",
                    getattr(patch.owner, "__name__", patch.owner),
                    patch.name,
                )
            elif patch.had_own:
                setattr(patch.owner, patch.name, patch.original)
            else:
                delattr(patch.owner, patch.name)

    def __bool__(self) -> bool:
        return bool(self._applied)


class PatchedOnImport:
    """Patches applied once ``module`` is imported, for as long as they are switched on.

    ``apply(module, patches)`` runs under the lock, once per switch-on: at once
    when the module is already imported, else at its import. Switching off
    undoes every patch. Safe from any thread; switching twice does nothing.
    """

    def __init__(self, module: str, apply: Callable[[ModuleType, Patches], None]) -> None:
        self._module = module
        self._apply = apply
        self._patches = Patches()
        self._lock = threading.Lock()
        self._on = False
        self._hook = self._patch  # one object: the import hook is forgotten by identity

    @property
    def on(self) -> bool:
        return self._on

    def switch_on(self) -> bool:
        """Patch from now on; False when it already was on."""
        with self._lock:
            if self._on:
                return False
            self._on = True
        _imports.when_imported(self._module, self._hook)
        return True

    def switch_off(self) -> bool:
        """Undo every patch; False when it already was off."""
        with self._lock:
            if not self._on:
                return False
            self._on = False
            self._patches.undo()
        _imports.forget(self._hook)
        return True

    def _patch(self, module: ModuleType) -> None:
        with self._lock:
            if self._on and not self._patches:
                self._apply(module, self._patches)
