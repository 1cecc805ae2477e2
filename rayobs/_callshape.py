"""Wrap a callable with start/finish hooks, keeping what kind of callable it is.

``async def`` stays a coroutine function, a generator function stays a
generator function (the hooks span the whole iteration), and the signature,
name and docstring are kept by ``functools.wraps``. Ray decides whether an
actor is async, and how a task returns, by looking at exactly these things.

The hooks run in user code's hot path: they must not raise (callers make sure),
and the wrapper re-raises the user's own exception object untouched.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

Start = Callable[[], Any]
Finish = Callable[[Any, "BaseException | None"], None]


def wrap(fn: F, start: Start, finish: Finish) -> F:
    """Return ``fn`` wrapped so ``finish(start(), exc)`` brackets every call."""
    if inspect.isasyncgenfunction(fn):
        return _wrap_async_gen(fn, start, finish)  # type: ignore[return-value]
    if inspect.iscoroutinefunction(fn):
        return _wrap_coroutine(fn, start, finish)  # type: ignore[return-value]
    if inspect.isgeneratorfunction(fn):
        return _wrap_gen(fn, start, finish)  # type: ignore[return-value]
    return _wrap_sync(fn, start, finish)  # type: ignore[return-value]


def drop_own_frame(exc: BaseException, frame: Any) -> None:
    """Remove a wrapper's frame from the head of ``exc``'s traceback.

    An exception passing through a wrapper gains the wrapper's frame; dropping it
    makes the traceback read exactly as it would without rayobs.
    """
    tb = exc.__traceback__
    if tb is not None and tb.tb_frame is frame:
        exc.__traceback__ = tb.tb_next


def _wrap_sync(fn: Callable[..., Any], start: Start, finish: Finish) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = start()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            finish(token, exc)
            drop_own_frame(exc, inspect.currentframe())
            raise
        finish(token, None)
        return result

    return wrapper


def _wrap_coroutine(fn: Callable[..., Any], start: Start, finish: Finish) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = start()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            finish(token, exc)
            drop_own_frame(exc, inspect.currentframe())
            raise
        finish(token, None)
        return result

    return wrapper


def _wrap_gen(fn: Callable[..., Any], start: Start, finish: Finish) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = start()
        try:
            result = yield from fn(*args, **kwargs)
        except GeneratorExit:
            finish(token, None)  # the consumer stopped early: not a failure
            raise
        except BaseException as exc:
            finish(token, exc)
            drop_own_frame(exc, inspect.currentframe())
            raise
        finish(token, None)
        return result

    return wrapper


def _wrap_async_gen(fn: Callable[..., Any], start: Start, finish: Finish) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = start()
        agen = fn(*args, **kwargs)
        throwing, value = False, None
        try:
            while True:
                try:
                    item = await (agen.athrow(value) if throwing else agen.asend(value))
                except StopAsyncIteration:
                    break
                try:
                    throwing, value = False, (yield item)
                except GeneratorExit:
                    await agen.aclose()
                    raise
                except BaseException as thrown:
                    throwing, value = True, thrown
        except GeneratorExit:
            finish(token, None)
            raise
        except BaseException as exc:
            finish(token, exc)
            drop_own_frame(exc, inspect.currentframe())
            raise
        finish(token, None)

    return wrapper
