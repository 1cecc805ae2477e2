"""Traced wrappers: a span around each call, the caller's context as its parent.

They sit outside the metrics wrapper and keep the same guarantees: the function's
kind, name, signature and docstring; its results and exceptions untouched (the
wrapper's frame is dropped from tracebacks); and tracing failures never reach the
user's code. The ``_rayobs_trace`` key that Ray hands over is popped here, so
the user's function never sees it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from rayobs._callshape import drop_own_frame
from rayobs.metrics import _failures
from rayobs.tracing import _context
from rayobs.tracing._ray_patch import TRACE_KWARG


def traced(inner: Callable[..., Any], user_fn: Callable[..., Any], kind: str, name: str) -> Any:
    """Wrap ``inner`` (the metrics wrapper of ``user_fn``) with a span per call."""
    attributes = _context.static_attributes(kind, name)
    if inspect.isasyncgenfunction(user_fn):
        wrapper = _async_gen(inner, attributes, name)
    elif inspect.iscoroutinefunction(user_fn):
        wrapper = _coroutine(inner, attributes, name)
    elif inspect.isgeneratorfunction(user_fn):
        wrapper = _generator(inner, attributes, name)
    else:
        wrapper = _sync(inner, attributes, name)
    return wrapper


def _start(attributes: dict[str, str], name: str, carrier: Any) -> tuple[Any, Any] | None:
    try:
        return _context.start(name, attributes, carrier)
    except Exception as exc:
        _failures.report(name, "trace", exc)
        return None


def _finish(handle: tuple[Any, Any] | None, exc: BaseException | None, name: str) -> None:
    if handle is None:
        return
    try:
        _context.finish(handle[0], handle[1], exc)
    except Exception as error:
        _failures.report(name, "trace", error)


def _sync(inner: Callable[..., Any], attributes: dict[str, str], name: str) -> Callable[..., Any]:
    @functools.wraps(inner)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        handle = _start(attributes, name, kwargs.pop(TRACE_KWARG, None))
        try:
            result = inner(*args, **kwargs)
        except BaseException as exc:
            _finish(handle, exc, name)
            drop_own_frame(exc, inspect.currentframe())
            raise
        _finish(handle, None, name)
        return result

    return wrapper


def _coroutine(
    inner: Callable[..., Any], attributes: dict[str, str], name: str
) -> Callable[..., Any]:
    @functools.wraps(inner)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        handle = _start(attributes, name, kwargs.pop(TRACE_KWARG, None))
        try:
            result = await inner(*args, **kwargs)
        except BaseException as exc:
            _finish(handle, exc, name)
            drop_own_frame(exc, inspect.currentframe())
            raise
        _finish(handle, None, name)
        return result

    return wrapper


def _generator(
    inner: Callable[..., Any], attributes: dict[str, str], name: str
) -> Callable[..., Any]:
    """The span covers the whole iteration; its context is current only while the
    generator itself runs, never in the consumer between items."""

    @functools.wraps(inner)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        handle = _start(attributes, name, kwargs.pop(TRACE_KWARG, None))
        saved = _suspend(handle)
        gen = inner(*args, **kwargs)
        value: Any = None
        throwing = False
        try:
            while True:
                entered = _context.resume(saved) if saved is not None else None
                try:
                    item = gen.throw(value) if throwing else gen.send(value)
                except StopIteration as stop:
                    result = stop.value
                    break
                finally:
                    if entered is not None:
                        _context.pause(entered)
                try:
                    throwing, value = False, (yield item)
                except GeneratorExit:
                    gen.close()
                    raise
                except BaseException as thrown:
                    throwing, value = True, thrown
        except GeneratorExit:
            _finish(_detached(handle), None, name)
            raise
        except BaseException as exc:
            _finish(_detached(handle), exc, name)
            drop_own_frame(exc, inspect.currentframe())
            raise
        _finish(_detached(handle), None, name)
        return result

    return wrapper


def _async_gen(
    inner: Callable[..., Any], attributes: dict[str, str], name: str
) -> Callable[..., Any]:
    @functools.wraps(inner)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        handle = _start(attributes, name, kwargs.pop(TRACE_KWARG, None))
        saved = _suspend(handle)
        agen = inner(*args, **kwargs)
        value: Any = None
        throwing = False
        try:
            while True:
                entered = _context.resume(saved) if saved is not None else None
                try:
                    item = await (agen.athrow(value) if throwing else agen.asend(value))
                except StopAsyncIteration:
                    break
                finally:
                    if entered is not None:
                        _context.pause(entered)
                try:
                    throwing, value = False, (yield item)
                except GeneratorExit:
                    await agen.aclose()
                    raise
                except BaseException as thrown:
                    throwing, value = True, thrown
        except GeneratorExit:
            _finish(_detached(handle), None, name)
            raise
        except BaseException as exc:
            _finish(_detached(handle), exc, name)
            drop_own_frame(exc, inspect.currentframe())
            raise
        _finish(_detached(handle), None, name)

    return wrapper


def _suspend(handle: tuple[Any, Any] | None) -> tuple[str, Any] | None:
    if handle is None:
        return None
    try:
        return _context.suspend(*handle)
    except Exception:
        return None


def _detached(handle: tuple[Any, Any] | None) -> tuple[Any, Any] | None:
    """The generator wrappers detach their own tokens: finishing must not detach again."""
    return None if handle is None else (handle[0], None)
