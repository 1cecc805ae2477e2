"""Carry the caller's trace context into traced Ray tasks, without touching signatures.

Ray validates ``.remote()`` arguments against the signature it extracted from the
function, then flattens them into ``[key, value]`` pairs that the worker turns back
into ``args``/``kwargs``. Two small patches, installed once per process when
tracing is used, add one pair after validation:

- ``extract_signature`` returns a ``TracedSignature`` (a list, as before) for
  functions that rayobs traces. It travels with actor handles, so a handle used in
  another process still knows which methods are traced.
- ``flatten_args`` appends ``("_rayobs_trace", <W3C carrier>)`` for a
  ``TracedSignature`` only, after Ray's own validation.

The traced wrapper in the worker pops that key before calling the user's function,
so the function never sees it and its signature is exactly what the user wrote.
Untraced functions get nothing added. Calls that do not go through ``.remote()``
(a Serve ``DeploymentHandle``) are carried by the integrations' installers
(``rayobs._extensions``), run from here too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

TRACE_KWARG = "_rayobs_trace"

MARK = "__rayobs_trace__"
_lock = threading.Lock()
_originals: dict[str, Callable[..., Any]] = {}


class TracedSignature(list):  # type: ignore[type-arg]
    """Ray's list of parameters, marked as belonging to a traced function.

    Truthy even when empty: Ray skips flattening for a zero-argument call when the
    signature list is empty, and the context must still be added.
    """

    def __bool__(self) -> bool:
        return True

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore_signature, (list(self),))


def _restore_signature(parameters: list[Any]) -> TracedSignature:
    install()  # a process that receives a traced handle must add contexts too
    return TracedSignature(parameters)


def mark(*functions: Callable[..., Any]) -> None:
    """Declare these callables traced: Ray will pass them the caller's context.

    An attribute, so the mark travels when cloudpickle ships a function by value.
    Ray unwraps actor methods to the user's function before reading their
    signature, so that function carries the mark too (it is never called with
    the extra key: the wrapper in front of it removes it).
    """
    for fn in functions:
        setattr(fn, MARK, True)
    install()


def is_traced(fn: Any) -> bool:
    return getattr(fn, MARK, False) is True


def install() -> None:
    """Patch Ray's signature helpers (once; safe to call again), and let the
    integrations patch what they carry contexts through (Serve's handles)."""
    from rayobs import _extensions

    _extensions.install()
    with _lock:
        if _originals:
            return
        try:
            from ray._common import signature
        except ImportError:  # no Ray here: nothing to carry contexts through
            return

        extract, flatten = signature.extract_signature, signature.flatten_args

        def extract_signature(func: Any, ignore_first: bool = False) -> list[Any]:
            parameters = extract(func, ignore_first)
            if is_traced(func):
                return TracedSignature(parameters)
            return parameters

        def flatten_args(
            signature_parameters: list[Any], args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> list[Any]:
            flat: list[Any] = flatten(signature_parameters, args, kwargs)
            if isinstance(signature_parameters, TracedSignature):
                from rayobs.tracing import _context

                carrier = _context.current_carrier()
                if carrier:
                    flat += [TRACE_KWARG, carrier]
            return flat

        _originals.update(extract_signature=extract, flatten_args=flatten)
        signature.extract_signature = extract_signature
        signature.flatten_args = flatten_args


def uninstall() -> None:
    """Put Ray's own helpers back."""
    with _lock:
        if not _originals:
            return
        from ray._common import signature

        signature.extract_signature = _originals["extract_signature"]
        signature.flatten_args = _originals["flatten_args"]
        _originals.clear()
