"""Ray Data: the functions and callable classes given to a dataset's transforms.

``rayobs.instrument`` on a function or callable class already measures every
batch or row call where it runs: in Ray Data's map tasks, or in the actors of
an actor pool (``compute=ActorPoolStrategy(...)``, ``concurrency=``), with the
class's ``__init__`` counted once per actor. This instrumentor does the same
with no decorator: once on, ``Dataset.map``, ``map_batches``, ``flat_map`` and
``filter`` instrument the user-defined function they are given (``fn``) with
the default options, unless it comes from Ray or rayobs, opted out with
``rayobs.auto.skip``, or was instrumented already.

>>> from rayobs.integrations import data
>>> data.instrument()    # waits for `import ray.data` if it has not happened
>>> data.uninstrument()
"""

from __future__ import annotations

import functools
import sys
from types import ModuleType
from typing import Any

from rayobs import _callshape
from rayobs.integrations._patch import PatchedOnImport, Patches
from rayobs.integrations._user_code import instrument_user_code
from rayobs.metrics import _failures

__all__ = ["TRANSFORMS", "instrument", "is_instrumented", "uninstrument"]

TRANSFORMS = ("map", "map_batches", "flat_map", "filter")


def _patch(module: ModuleType, patches: Patches) -> None:
    for name in TRANSFORMS:  # one that Ray Data no longer has leaves the others on
        try:
            patches.replace(module.Dataset, name, _instrumenting)
        except AttributeError as exc:
            _failures.report("rayobs.auto", f"patch Dataset.{name}", exc)


_switch = PatchedOnImport("ray.data", _patch)


def instrument() -> None:
    """Instrument the functions given to Ray Data's transforms from now on (idempotent)."""
    _switch.switch_on()


def uninstrument() -> None:
    """Give Ray Data its own methods back (idempotent). UDFs already instrumented stay so."""
    _switch.switch_off()


def is_instrumented() -> bool:
    """True between ``instrument()`` and ``uninstrument()``."""
    return _switch.on


def _instrumenting(original: Any) -> Any:
    @functools.wraps(original)
    def transform(self: Any, *args: Any, **kwargs: Any) -> Any:
        if args:
            args = (instrument_user_code(args[0]), *args[1:])
        elif kwargs.get("fn") is not None:
            kwargs["fn"] = instrument_user_code(kwargs["fn"])
        try:
            return original(self, *args, **kwargs)
        except BaseException as exc:
            _callshape.drop_own_frame(exc, sys._getframe())
            raise

    return transform
