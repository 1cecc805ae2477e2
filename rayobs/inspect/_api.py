"""The serializability inspector: will Ray be able to ship this object, and if not, why?

Ray pickles remote functions, actor classes and their arguments with its
bundled cloudpickle. This module answers with the same cloudpickle, so the
verdict is Ray's, and names every culprit with its access path and a fix.
Ray (or the standalone ``cloudpickle``) is imported on first use only.
"""

from __future__ import annotations

import functools
from typing import Any

from rayobs._errors import SerializationError
from rayobs.inspect._children import default_root_name
from rayobs.inspect._probe import Prober, RememberingProber
from rayobs.inspect._render import render_text
from rayobs.inspect._report import Failure, SerializabilityReport
from rayobs.inspect._walk import Walk

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_NODES",
    "Failure",
    "SerializabilityReport",
    "check_at_decoration",
    "inspect_serializability",
]

# Deep enough for any path pickle itself can follow (a few hundred levels exhaust
# Python's recursion limit there first): the search is bounded by nodes.
DEFAULT_MAX_DEPTH = 200
DEFAULT_MAX_NODES = 50_000


@functools.cache
def load_cloudpickle() -> Any:
    """Ray's bundled cloudpickle, or the standalone package when Ray is not installed."""
    try:
        import ray.cloudpickle as cloudpickle
    except ImportError:
        try:
            import cloudpickle  # type: ignore[no-redef]
        except ImportError:
            raise ImportError(
                "inspecting serializability needs Ray's cloudpickle: pip install 'rayobs[ray]' "
                "(or pip install cloudpickle)"
            ) from None
    return cloudpickle


def inspect_serializability(
    obj: object,
    *,
    name: str | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> SerializabilityReport:
    """Check that ``obj`` pickles the way Ray ships it; if not, find every culprit.

    An object that pickles costs one ``cloudpickle`` pickling. Otherwise the
    search takes apart only what fails: function closures, the globals a
    function's code names, defaults, bound methods, partials, classes,
    instance state (``__dict__``, slots, ``__getstate__``/``__reduce__``) and
    containers. ``max_depth`` bounds path length and ``max_nodes`` the number
    of objects pickled; when either cuts the search, the report says so.

    >>> import threading
    >>> lock = threading.Lock()
    >>> def task(x):
    ...     with lock:
    ...         return x
    >>> report = inspect_serializability(task)
    >>> report.serializable, report.paths
    (False, ("task.__globals__['lock']",))
    """
    if max_depth < 0:
        raise ValueError(f"max_depth must be >= 0, got {max_depth!r}")
    if max_nodes < 1:
        raise ValueError(f"max_nodes must be >= 1, got {max_nodes!r}")
    root = default_root_name(obj) if name is None else name
    cloudpickle = load_cloudpickle()
    error = Prober(cloudpickle)(obj)
    if error is None:
        return SerializabilityReport(serializable=True, root=root)
    walk = Walk(probe=RememberingProber(cloudpickle), max_depth=max_depth, max_nodes=max_nodes)
    walk.run(obj, root, error)
    return SerializabilityReport(
        serializable=False,
        root=root,
        failures=tuple(walk.failures),
        truncated=bool(walk.cuts),
        truncated_reason="; ".join(walk.cuts.values()),
    )


def check_at_decoration(
    obj: object,
    name: str | None = None,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> SerializabilityReport:
    """Raise :class:`rayobs.SerializationError` now if Ray could not ship ``obj`` later.

    Meant for decorators (an opt-in check when a task or actor is declared):
    the error lists every culprit's path instead of Ray's pickling error at the
    first ``.remote()`` call. Returns the report when ``obj`` is serializable.

    >>> def task(x):
    ...     return x
    >>> check_at_decoration(task).serializable
    True
    """
    report = inspect_serializability(obj, name=name, max_depth=max_depth, max_nodes=max_nodes)
    if not report.serializable:
        raise SerializationError(render_text(report), report)
    return report
