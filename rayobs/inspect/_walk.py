"""The search: pickle a node, and only take apart the nodes that fail.

A node that pickles is never looked into. A node that fails is taken apart
(``children``) and its children are probed in runs, one probe up to the first
that fails (``RememberingProber.first_failure``); it is a culprit when none of
its children fails on its own (its own reduction refuses, or it has no children).
Every object is probed at most once (an id-keyed memo), which also makes
cycles safe: a child already known to fail explains its parent without being
reported twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from rayobs.inspect._children import ATOMIC, children
from rayobs.inspect._hints import is_opaque, known_offender, offender_for
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

    def _known(self, obj: object) -> _Status | None:
        if type(obj) in ATOMIC:
            return _Status.OK
        known = self._status.get(id(obj))
        if known is not None:
            return known
        if id(obj) in self.probe.known_ok:
            return _Status.OK
        return None

    def _visit_all(self, parts: list[tuple[object, str]], depth: int) -> bool:
        """Probe ``parts`` (siblings) in runs and explain each that fails; True if any fails.

        One probe pickles the siblings one after the other up to the first that
        fails; the next run starts after it. A container of a thousand good
        items and one bad one costs three probes, not a thousand. The sibling
        the last failing probe stopped inside (``Trail``) is looked into first,
        unprobed: a culprit deep down a path is reached without pickling the
        path again at every level.
        """
        failed = False
        todo: list[tuple[object, str]] = []
        for child, path in parts:
            known = self._known(child)
            if known is None:
                todo.append((child, path))
            elif known is _Status.FAILS:
                # Known to fail (reported elsewhere, or an ancestor reached through
                # a cycle): it explains this failure too.
                failed = True
        if len(todo) == 1 and not failed:
            return self._suspect(*todo[0], depth)
        trail = self.probe.trail
        lead = None if trail is None else trail.suspect([child for child, _ in todo])
        # the last failing probe stopped inside ``lead``: look there before probing
        if lead is not None and self._suspect(*todo.pop(lead), depth):
            failed = True
        start = 0
        while start < len(todo):
            budget = self.max_nodes - self.probes
            if budget <= 0:
                self._cut(
                    "max_nodes",
                    f"max_nodes={self.max_nodes} reached before probing {todo[start][1]}",
                )
                break
            run = todo[start : start + budget]
            found = self.probe.first_failure([child for child, _ in run])
            good = len(run) if found is None else found[0]
            self.probes += good if found is None else good + 1
            for child, _ in run[:good]:
                self._status[id(child)] = _Status.OK
                self._alive.append(child)
            if found is None:
                start += len(run)
                continue
            child, path = run[good]
            self._status[id(child)] = _Status.FAILS
            self._alive.append(child)
            self._explain(child, path, depth, found[1])
            failed = True
            start += good + 1
        return failed

    def _suspect(self, obj: object, path: str, depth: int) -> bool:
        """The one child that can explain its parent's failure: looked into before a probe.

        Probing it first would pickle everything before the culprit once more
        at every level of a path with one way down. It fails if one of its
        children does; otherwise one probe tells whether its own reduction does.
        """
        self._alive.append(obj)
        looked = depth < self.max_depth and known_offender(obj) is None
        parts = children(obj, path) if looked else []
        if parts and self._visit_all(parts, depth + 1):
            self._status[id(obj)] = _Status.FAILS
            return True
        known = self._status.get(id(obj))  # reached again through a cycle meanwhile
        if known is not None:
            return known is _Status.FAILS
        if self.probes >= self.max_nodes:
            self._cut("max_nodes", f"max_nodes={self.max_nodes} reached before probing {path}")
            return False
        self.probes += 1
        found = self.probe.first_failure([obj])
        if found is None:
            self._status[id(obj)] = _Status.OK
            return False
        self._status[id(obj)] = _Status.FAILS
        if parts:  # its children pickle: its own reduction fails
            self._record(obj, path, found[1])
        else:
            self._explain(obj, path, depth, found[1])
        return True

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
        if not self._visit_all(parts, depth + 1):
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
