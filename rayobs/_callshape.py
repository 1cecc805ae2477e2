"""Wrap a callable with start/finish hooks, keeping what kind of callable it is.

``async def`` stays a coroutine function, a generator function stays a
generator function (the hooks span the whole iteration), and the signature,
name and docstring are kept by ``functools.wraps``. Ray decides whether an
actor is async, and how a task returns, by looking at exactly these things.

The hooks run in user code's hot path: they must not raise (callers make sure),
and the wrapper re-raises the user's own exception object untouched. ``start``
receives the call's keyword arguments and may take out what is its own (the
tracing hooks take the caller's context that way). Hooks that keep a context
current for the call (a span) pass ``Steps``: for generators the context is then
left right after ``start`` and re-entered around each step, so the consumer never
runs inside it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

Start = Callable[[dict[str, Any]], Any]
Finish = Callable[[Any, "BaseException | None"], None]


@dataclass(frozen=True)
class Steps:
    """How a generator's hooks leave their context and re-enter it around each step.

    ``suspend(token)`` runs once after ``start`` and returns ``(token, saved)``: the
    token ``finish`` gets, and what ``resume(saved)`` re-enters before each step;
    ``pause`` leaves what ``resume`` returned after the step.
    """

    suspend: Callable[[Any], tuple[Any, Any]]
    resume: Callable[[Any], Any]
    pause: Callable[[Any], None]


def wrap(fn: F, start: Start, finish: Finish, steps: Steps | None = None) -> F:
    """Return ``fn`` wrapped so ``finish(start(kwargs), exc)`` brackets every call."""
    if inspect.isasyncgenfunction(fn):
        return _wrap_async_gen(fn, start, finish, steps)  # type: ignore[return-value]
    if inspect.iscoroutinefunction(fn):
        return _wrap_coroutine(fn, start, finish)  # type: ignore[return-value]
    if inspect.isgeneratorfunction(fn):
        return _wrap_gen(fn, start, finish, steps)  # type: ignore[return-value]
    return _wrap_sync(fn, start, finish)  # type: ignore[return-value]


def is_plain(fn: Callable[..., Any]) -> bool:
    """True for a plain function: not ``async def``, not a generator function."""
    return not (
        inspect.iscoroutinefunction(fn)
        or inspect.isgeneratorfunction(fn)
        or inspect.isasyncgenfunction(fn)
    )


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
        token = start(kwargs)
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
        token = start(kwargs)
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            finish(token, exc)
            drop_own_frame(exc, inspect.currentframe())
            raise
        finish(token, None)
        return result

    return wrapper


def _suspended(steps: Steps | None, token: Any) -> tuple[Any, Any]:
    return (token, None) if steps is None else steps.suspend(token)


def _wrap_gen(
    fn: Callable[..., Any], start: Start, finish: Finish, steps: Steps | None
) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token, saved = _suspended(steps, start(kwargs))
        try:
            if saved is None:
                result = yield from fn(*args, **kwargs)
            else:
                result = yield from _stepped(fn(*args, **kwargs), steps, saved)
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


def _stepped(gen: Any, steps: Any, saved: Any) -> Any:
    """Drive ``gen`` with the hooks' context entered around each of its steps only."""
    value: Any = None
    throwing = False
    while True:
        entered = steps.resume(saved)
        try:
            item = gen.throw(value) if throwing else gen.send(value)
        except StopIteration as stop:
            return stop.value
        finally:
            steps.pause(entered)
        try:
            throwing, value = False, (yield item)
        except GeneratorExit:
            gen.close()
            raise
        except BaseException as thrown:
            throwing, value = True, thrown


def _wrap_async_gen(
    fn: Callable[..., Any], start: Start, finish: Finish, steps: Steps | None
) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        token, saved = _suspended(steps, start(kwargs))
        agen = fn(*args, **kwargs)
        throwing, value = False, None
        try:
            while True:
                entered = None if saved is None else steps.resume(saved)  # type: ignore[union-attr]
                try:
                    item = await (agen.athrow(value) if throwing else agen.asend(value))
                except StopAsyncIteration:
                    break
                finally:
                    if saved is not None:
                        steps.pause(entered)  # type: ignore[union-attr]
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
