"""What auto mode instruments: user code, never Ray's or rayobs's, never what opted out.

The decision is made from the module that defines the function or class
(``__module__``): ``ray`` and ``rayobs`` and their submodules are left alone,
everything else is user code (a script's ``__main__``, the job's own
packages, and libraries built on Ray). An object marked with :func:`skip`
(a class: and its subclasses) is left alone too.
"""

from __future__ import annotations

import inspect
from typing import Any, TypeVar

from rayobs.metrics import _failures

T = TypeVar("T")

SKIP = "__rayobs_auto_skip__"
_NEVER = frozenset({"ray", "rayobs"})


def skip(target: T) -> T:
    """Leave ``target``, a function or class, to itself in auto mode.

    Put it under ``@ray.remote`` (it must see the plain function or class):

    >>> import rayobs.auto
    >>> @rayobs.auto.skip
    ... def hot_loop(x):
    ...     return x
    >>> rayobs.auto.is_skipped(hot_loop)
    True
    """
    if hasattr(target, "_default_options") or hasattr(target, "__ray_metadata__"):
        raise TypeError(
            "rayobs.auto.skip must see the plain function or class: put it below "
            "@ray.remote (@ray.remote, then @rayobs.auto.skip, then def/class)"
        )
    if not (inspect.isfunction(target) or inspect.isclass(target)):
        raise TypeError(f"rayobs.auto.skip takes a function or a class, not {target!r}")
    setattr(target, SKIP, True)
    return target


def is_skipped(target: Any) -> bool:
    """True for a function or class marked with :func:`skip` (a class: or a base of it)."""
    return getattr(target, SKIP, False) is True


def is_user_code(target: Any) -> bool:
    """True unless ``target`` was defined in Ray or rayobs (or cannot say where)."""
    module = getattr(target, "__module__", None)
    if not isinstance(module, str):
        return False
    return module.partition(".")[0] not in _NEVER


def instrument_user_code(target: T) -> T:
    """``target`` instrumented with the default options if auto mode wants it, else as is.

    Never raises into the caller (it runs inside ``@ray.remote`` and Ray Data's
    transforms): a failure is logged once and counted, and ``target`` is
    returned untouched.
    """
    try:
        if not (inspect.isfunction(target) or inspect.isclass(target)):
            return target  # callable objects, builtins, Cython functions
        if is_skipped(target) or not is_user_code(target):
            return target
        from rayobs.calls._decorator import instrument_auto

        return instrument_auto(target)
    except Exception as exc:
        _failures.report("rayobs.auto", "instrument", exc)
        return target
