"""How an instrumented call ended: ``ok``, ``exit`` (an intended exit) or ``error``.

An intended exit is a call that asks, on purpose, for its process to end
cleanly: ``ray.actor.exit_actor()`` (in Ray 2.60 it raises ``SystemExit(0)`` in a
sync or threaded actor and ``ray.exceptions.AsyncioActorExit`` in an async one;
Ray records the worker as ``INTENDED_USER_EXIT``), and ``sys.exit()`` /
``sys.exit(0)``. The call did what it was written to do: it is not an error.
``SystemExit`` with any other code (``sys.exit(3)``, ``sys.exit("usage")``) asks
for a failing exit status: an error, like any other exception.

The outcome is the call's own, decided where it raised: whoever catches the
exception further up decides what happens next. An argparse or click entry
point raises ``SystemExit(0)`` that its caller often catches, and the process
carries on. One that reaches Ray from a task is a crash to Ray (measured on Ray
2.60: the worker is recorded as ``SYSTEM_ERROR``, the caller gets
``WorkerCrashedError`` and the task is retried), and from an async actor's method
the call hangs; ``rayobs diagnose`` reads such dead workers from Ray.

No Ray import: ``AsyncioActorExit`` can only have been raised when
``ray.exceptions`` is already loaded.
"""

from __future__ import annotations

import sys

OK = "ok"
EXIT = "exit"
ERROR = "error"
OUTCOMES = (OK, EXIT, ERROR)


def of(exc: BaseException | None) -> str:
    """The outcome of a call that returned (``None``) or raised ``exc``.

    >>> of(None), of(SystemExit(0)), of(SystemExit(None)), of(SystemExit(3)), of(KeyError())
    ('ok', 'exit', 'exit', 'error', 'error')
    """
    if exc is None:
        return OK
    return EXIT if is_intended_exit(exc) else ERROR


def is_intended_exit(exc: BaseException) -> bool:
    """``SystemExit`` asking for exit status 0, or Ray's ``AsyncioActorExit``."""
    if isinstance(exc, SystemExit):
        return exit_status(exc) == 0
    ray_exceptions = sys.modules.get("ray.exceptions")
    asyncio_exit = getattr(ray_exceptions, "AsyncioActorExit", None)
    return isinstance(asyncio_exit, type) and isinstance(exc, asyncio_exit)


def exit_status(exc: SystemExit) -> int:
    """The exit status ``exc`` asks for: its code, 0 for none, 1 for a message.

    >>> exit_status(SystemExit()), exit_status(SystemExit(3)), exit_status(SystemExit("usage"))
    (0, 3, 1)
    """
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):  # bool too: sys.exit(False) exits with 0
        return int(code)
    return 1


def exception_name(exc_type: type[BaseException]) -> str:
    """``ZeroDivisionError`` for builtins, ``package.module.QualName`` otherwise."""
    module = exc_type.__module__
    if module == "builtins":
        return exc_type.__qualname__
    return f"{module}.{exc_type.__qualname__}"
