"""The search: pickle a node, and only take apart the nodes that fail.

A node that pickles costs one probe and is never looked into. A node that
fails is taken apart (``_inspect_children``); it is a culprit when none of its
children fails on its own (its own reduction refuses, or it has no children).
Every object is probed at most once (an id-keyed memo), which also makes
cycles safe: a child already known to fail explains its parent without being
reported twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from rayobs.inspect._children import ATOMIC, children
from rayobs.inspect._hints import is_opaque, offender_for
from rayobs.inspect._probe import RememberingProber
from rayobs.inspect._report import Failure

_MAX_ERROR_CHARS = 500


class _Status(Enum):
    OK = "ok"
    FAILS = "fails"
    UNKNOWN = "unknown"  # a budget stopped the search before this object was probed


def describe_error(error: BaseException) -> str:
    """``TypeName: message`` on one line, cut to a readable length."""
    text = " ".join(f"{type(error).__name__}: {error}".split())
    if len(text) > _MAX_ERROR_CHARS:
        text = text[: _MAX_ERROR_CHARS - 3] + "..."
    return text


def qualified_type_name(obj: object) -> str:
    """``module.QualName`` of ``type(obj)``, without the ``builtins.`` prefix."""
    cls = type(obj)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


@dataclass
class Walk:
    """One search from a root that is already known to fail."""

    probe: RememberingProber
    max_depth: int
    max_nodes: int
    failures: list[Failure] = field(default_factory=list)
    # Why the search was cut, first occurrence per budget ("max_depth", "max_nodes").
    cuts: dict[str, str] = field(default_factory=dict)
    probes: int = 0
    _status: dict[int, _Status] = field(default_factory=dict)
    # Keeps every probed object alive, so ids of objects made during the walk
    # (reduce results, __getstate__ dicts) are never reused by another object.
    _alive: list[object] = field(default_factory=list)

    def run(self, root: object, root_path: str, root_error: Exception) -> None:
        self._status[id(root)] = _Status.FAILS
        self._alive.append(root)
        self._explain(root, root_path, 0, root_error)
        if not self.failures:
            # Only possible when every failing child led back to the root through a
            # cycle, so the root's own reduction is what fails.
            self._record(root, root_path, root_error)

    def _visit(self, obj: object, path: str, depth: int) -> _Status:
        if type(obj) in ATOMIC:
            return _Status.OK
        known = self._status.get(id(obj))
        if known is not None:
            return known
        if id(obj) in self.probe.known_ok:
            return _Status.OK
        if self.probes >= self.max_nodes:
            self._cut("max_nodes", f"max_nodes={self.max_nodes} reached before probing {path}")
            return _Status.UNKNOWN
        self.probes += 1
        error = self.probe(obj)
        status = _Status.OK if error is None else _Status.FAILS
        self._status[id(obj)] = status
        self._alive.append(obj)
        if error is not None:
            self._explain(obj, path, depth, error)
        return status

    def _explain(self, obj: object, path: str, depth: int, error: Exception) -> None:
        """Blame the failing children of ``obj``, or ``obj`` itself when there are none."""
        if is_opaque(obj, error):
            self._record(obj, path, error)
            return
        parts = children(obj, path)
        if not parts:
            self._record(obj, path, error)
            return
        if depth >= self.max_depth:
            self._cut("max_depth", f"max_depth={self.max_depth} reached at {path}")
            self._record(obj, path, error)
            return
        blamed = False
        for child, child_path in parts:
            # A child already known to fail (reported elsewhere, or an ancestor
            # reached through a cycle) explains this failure too.
            if self._visit(child, child_path, depth + 1) is _Status.FAILS:
                blamed = True
        if not blamed:
            # Either obj's own reduction fails, or a budget hid the culprit below it.
            self._record(obj, path, error)

    def _record(self, obj: object, path: str, error: Exception) -> None:
        self.failures.append(
            Failure(
                path=path,
                type=qualified_type_name(obj),
                error=describe_error(error),
                hint=offender_for(obj, error).hint,
            )
        )

    def _cut(self, budget: str, reason: str) -> None:
        self.cuts.setdefault(budget, reason)
