"""The per-process registry: declarations, the backend in use, and bound children.

Declarations are checked once per name: the same spec again is fine, a
different one raises ``MetricConflictError`` (or, when a handle arrives by
unpickling, is reported and the first declaration wins, because that happens at
run time inside user code).

Backend instruments are created lazily, on a handle's first record, once per
process and name. Each entry maps the tag sets it has seen to bound children,
within a cardinality budget; past the budget, tag values fold into ``__other__``
and the fold is counted.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import weakref
from collections.abc import Mapping
from typing import Any, Protocol

from rayobs import _config
from rayobs._errors import MetricConflictError
from rayobs.backends import Backend, load_backend
from rayobs.metrics import _catalog, _failures
from rayobs.metrics._spec import MetricSpec

OTHER = "__other__"


_lock = threading.RLock()
_declared: dict[str, MetricSpec] = {}
_entries: dict[str, Entry] = {}
_backend: Backend | None = None
_handles: weakref.WeakSet[Any] = weakref.WeakSet()


def declare(spec: MetricSpec, *, lenient: bool = False) -> None:
    """Record the declaration of ``spec``; raise on a conflicting one unless ``lenient``."""
    with _lock:
        existing = _declared.get(spec.name)
        if existing is None:
            _declared[spec.name] = spec
            return
        if existing == spec:
            return
        error = MetricConflictError(spec.name, existing.differences(spec))
    if not lenient:
        raise error
    _failures.report(spec.name, "declare", error)


def known() -> dict[str, MetricSpec]:
    """Every metric this process knows, by name: live handles' and declarations."""
    with _lock:
        specs = {handle.spec.name: handle.spec for handle in list(_handles)}
        specs.update(_declared)
        return specs


def in_use() -> Backend | None:
    """The backend in use, or ``None`` before one is chosen (never chooses one)."""
    return _backend


def track(handle: Any) -> None:
    _handles.add(handle)


def backend() -> Backend:
    """The backend in use, chosen on first need (``RAYOBS_BACKEND``, else automatic)."""
    current = _backend
    if current is not None:
        return current
    with _lock:
        if _backend is None:
            _set_backend(_select())
        assert _backend is not None
        return _backend


def _select() -> Backend:
    name = _config.get(_config.BACKEND).strip().lower() or "auto"
    if name == "auto":
        name = "ray" if ray_connected() else "prometheus"
    return load_backend(name)


def ray_connected() -> bool:
    """True inside a Ray worker or a driver that called ``ray.init`` (never imports Ray)."""
    ray = sys.modules.get("ray")
    if ray is None:
        return False
    try:
        return bool(ray.is_initialized())
    except Exception:
        return False


def use_backend(new: Backend | str | None) -> Backend | None:
    """Switch this process to ``new`` (a name, an instance, or ``None`` for automatic).

    Every handle forgets its bound children; the next record binds again.
    Returns the backend that was in use (``None`` if none was chosen yet).
    """
    if isinstance(new, str):
        new = load_backend(new)
    with _calls_switching(new), _lock:
        previous = _backend
        _set_backend(new)
    return previous


class Records(Protocol):
    """What keeps counts in process before pushing them through handles (the call
    records of ``rayobs.calls``), as the registry sees it."""

    def switching(self, push: bool) -> contextlib.AbstractContextManager[None]: ...
    def backend_changed(self) -> None: ...


_records: Records | None = None


def keep_records(records: Records) -> None:
    """Tell the registry about ``records`` (the call records register themselves on import)."""
    global _records
    _records = records


def _calls_switching(new: Backend | None) -> contextlib.AbstractContextManager[None]:
    """Push the calls counted so far into the backend being replaced, and hold the
    background push back until the switch is done (``Records.switching``)."""
    if _records is None:
        return contextlib.nullcontext()
    return _records.switching(push=_backend is not None and new is not _backend)


def _set_backend(new: Backend | None) -> None:
    global _backend
    close = getattr(_backend, "close", None)
    if close is not None and _backend is not new:
        close()
    _backend = new
    _entries.clear()
    for handle in list(_handles):
        handle._detach()
    if _records is not None:
        _records.backend_changed()


def reset(*, declarations: bool = True) -> None:
    """Forget the backend, every bound child and (by default) every declaration."""
    with _calls_switching(None), _lock:
        _set_backend(None)
        if declarations:
            _declared.clear()


def entry(spec: MetricSpec) -> Entry:
    """The entry of ``spec.name`` for the current backend, created on first use."""
    found = _entries.get(spec.name)
    if found is not None:
        return found
    current = backend()
    with _lock:
        found = _entries.get(spec.name)
        if found is None:
            declare(spec, lenient=True)
            budget = spec.max_cardinality or _config.get_int(_config.MAX_CARDINALITY)
            found = Entry(_declared.get(spec.name, spec), current.create(spec), budget)
            _entries[spec.name] = found
        return found


class Entry:
    """One metric's instrument and its bound children in this process."""

    def __init__(self, spec: MetricSpec, instrument: Any, budget: int) -> None:
        self.spec = spec
        self.instrument = instrument
        self.budget = budget
        # Keyed as the caller passed tags (``None`` for the defaults): the fast path.
        self.children: dict[Any, Any] = {}
        # Keyed by the complete tag values: what the budget counts.
        self.admitted: dict[tuple[str, ...], Any] = {}
        self._overflow: Any = None
        self._lock = threading.Lock()

    def child(self, tags: Mapping[str, Any] | None) -> Any:
        """The child for ``tags`` merged over the default tags (binding it if new)."""
        key = None if tags is None else tuple(tags.items())
        with self._lock:
            found = self.children.get(key)
            if found is not None:
                return found
            resolved = self._resolve(tags)
            values = tuple(resolved[k] for k in self.spec.tag_keys)
            found = self.admitted.get(values)
            if found is None:
                if len(self.admitted) < self.budget:
                    found = self.instrument.bind(resolved)
                    self.admitted[values] = found
                else:
                    found = self._overflow_child()
            # Bounded: past the cap, folded tag sets take this slow path every time.
            if len(self.children) < 2 * self.budget + 16:
                self.children[key] = found
            return found

    def _resolve(self, tags: Mapping[str, Any] | None) -> dict[str, str]:
        spec = self.spec
        resolved = spec.default_tags_dict()
        if tags:
            unknown = [k for k in tags if k not in spec.tag_keys]
            if unknown:
                _failures.report(
                    spec.name,
                    "tags",
                    KeyError(f"unknown tag keys {unknown}; declared tag_keys are {spec.tag_keys}"),
                )
            for k, v in tags.items():
                if k in spec.tag_keys:
                    resolved[k] = v if isinstance(v, str) else str(v)
        missing = [k for k in spec.tag_keys if k not in resolved]
        if missing:
            _failures.report(
                spec.name,
                "tags",
                KeyError(f"no value for tag keys {missing} (and no default_tags); recorded as ''"),
            )
            for k in missing:
                resolved[k] = ""
        return {k: resolved[k] for k in spec.tag_keys}

    def _overflow_child(self) -> Any:
        if self._overflow is None:
            defaults = self.spec.default_tags_dict()
            folded = {k: defaults.get(k, OTHER) for k in self.spec.tag_keys}
            self._overflow = _Overflow(self.instrument.bind(folded), self.spec.name)
        return self._overflow


class _Overflow:
    """A folded child: records into the ``__other__`` series and counts the fold."""

    __slots__ = ("child", "metric")

    def __init__(self, child: Any, metric: str) -> None:
        self.child = child
        self.metric = metric

    def _note(self) -> None:
        overflow = _catalog.CARDINALITY_OVERFLOW
        if self.metric != overflow.name:
            try:
                _count(overflow, {"metric": self.metric})
            except Exception as exc:
                _failures.report(overflow.name, "inc", exc)

    def inc(self, value: float = 1.0) -> None:
        self._note()
        self.child.inc(value)

    def dec(self, value: float = 1.0) -> None:
        self._note()
        self.child.dec(value)

    def set(self, value: float) -> None:
        self._note()
        self.child.set(value)

    def observe(self, value: float) -> None:
        self._note()
        self.child.observe(value)


def _count(spec: MetricSpec, tags: dict[str, str]) -> None:
    """Add one to a counter of the catalog that rayobs keeps about itself."""
    entry(spec).child(tags).inc(1.0)


def _export_failure(metric: str, stage: str) -> None:
    _count(_catalog.RECORDING_FAILURES, {"metric": metric, "stage": stage})


# The failure policy sits below the registry: it counts into the exported
# ``rayobs_recording_failures`` through this, with no import going up.
_failures.export_with(_export_failure)
