"""Ray's serialization errors, with the inspector's report added as exception notes.

When Ray cannot pickle a remote function, an actor class, a ``.remote()``
argument or a ``ray.put`` value, its error names the object (when it is a
``TypeError``) or nothing at all (a ``multiprocessing.Pool`` raises
``NotImplementedError`` straight through). Auto mode wraps the four places
where that happens; when one raises, every object it was about to ship is
inspected, and each that cannot be pickled adds a note (``exc.add_note``)
naming every unpicklable path, with a fix. The exception stays the same
object, of the same type, with the same message and traceback: Python prints
the notes after it.

Nothing runs unless Ray raised: the success path costs one ``try``.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Iterator
from typing import Any

from rayobs import _callshape
from rayobs.integrations._patch import Patches
from rayobs.metrics import _failures

Candidates = Callable[[tuple[Any, ...], dict[str, Any]], Iterator[tuple[str, Any]]]

_NOTED = "__rayobs_noted__"


def install(patches: Patches) -> None:
    """Wrap ``.remote()`` of functions, actor classes and actor methods, and ``ray.put``."""
    import ray
    import ray.actor
    import ray.remote_function

    patches.replace(ray.remote_function.RemoteFunction, "_remote", _noting(_task))
    patches.replace(ray.actor.ActorClass, "_remote", _noting(_actor_creation))
    patches.replace(ray.actor.ActorMethod, "_remote", _noting(_actor_call))
    patches.replace(ray, "put", _noting(_put))


def _noting(candidates: Candidates) -> Callable[[Any], Any]:
    def make(original: Any) -> Any:
        @functools.wraps(original)
        def noting(*args: Any, **kwargs: Any) -> Any:
            try:
                return original(*args, **kwargs)
            except Exception as exc:
                add_notes(exc, candidates(args, kwargs))
                _callshape.drop_own_frame(exc, sys._getframe())
                raise

        return noting

    return make


def add_notes(exc: BaseException, shipped: Iterator[tuple[str, Any]]) -> None:
    """Add the inspector's report on each object of ``shipped`` that cannot be pickled.

    Never raises (a failure is logged once and counted); an exception that
    passes through several wrapped calls is noted once.
    """
    if getattr(exc, _NOTED, False):
        return
    with _failures.in_background():
        try:
            from rayobs.inspect._api import inspect_serializability
            from rayobs.inspect._render import render_text

            for root, obj in shipped:
                if _passed_by_reference(obj):
                    continue
                report = inspect_serializability(obj, name=root)
                if not report.serializable:
                    _add_note(exc, f"rayobs: {render_text(report)}")
            setattr(exc, _NOTED, True)
        except Exception as failure:
            _failures.report("rayobs.auto", "serialization notes", failure)


def _add_note(exc: BaseException, note: str) -> None:
    if sys.version_info >= (3, 11):
        exc.add_note(note)
    else:  # Python 3.10 keeps them but does not print them
        exc.__notes__ = [*getattr(exc, "__notes__", ()), note]  # type: ignore[attr-defined]


def _passed_by_reference(obj: Any) -> bool:
    """Object refs and actor handles: Ray sends references, never pickles them here."""
    import ray
    from ray.actor import ActorHandle

    return isinstance(obj, (ray.ObjectRef, ActorHandle))


def _arguments(
    call: tuple[Any, ...], keywords: dict[str, Any]
) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    """``(self, args, kwargs)`` of a call to Ray's ``_remote(self, args, kwargs, ...)``."""
    owner = call[0]
    args = call[1] if len(call) > 1 else keywords.get("args")
    kwargs = call[2] if len(call) > 2 else keywords.get("kwargs")
    return owner, tuple(args or ()), dict(kwargs or {})


def _name(obj: Any) -> str:
    """``f`` or ``Class``, as the code names it (``Class.method``, no ``<locals>``)."""
    return str(getattr(obj, "__qualname__", type(obj).__name__)).rsplit("<locals>.", 1)[-1]


def _values(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for i, value in enumerate(args):
        yield f"args[{i}]", value
    for key, value in kwargs.items():
        yield f"kwargs[{key!r}]", value


def _task(call: tuple[Any, ...], keywords: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    remote_function, args, kwargs = _arguments(call, keywords)
    function = inspect.unwrap(remote_function._function)  # the user's, not rayobs's wrapper
    yield _name(function), function
    yield from _values(args, kwargs)


def _actor_creation(call: tuple[Any, ...], keywords: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    actor_class, args, kwargs = _arguments(call, keywords)
    cls = actor_class.__ray_metadata__.modified_class.__ray_actor_class__
    yield _name(cls), cls
    yield from _values(args, kwargs)


def _actor_call(call: tuple[Any, ...], keywords: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    _, args, kwargs = _arguments(call, keywords)
    yield from _values(args, kwargs)


def _put(call: tuple[Any, ...], keywords: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    yield "value", call[0] if call else keywords.get("value")
