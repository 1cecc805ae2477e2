"""rayobs: observability and debugging for Ray.

Metric handles you define once and use anywhere::

    import rayobs

    FAILURES = rayobs.Counter("withdrawal_failures", "Failed withdrawals.", tag_keys=("bank",))

    @ray.remote
    def withdraw(bank, amount):
        ...
        FAILURES.inc(tags={"bank": bank})

Importing rayobs has no side effects and does not import Ray.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rayobs import _config
from rayobs import integrations as _integrations  # noqa: F401  (registers hooks, imports none)
from rayobs._errors import (
    MetricConflictError,
    MetricDefinitionError,
    RayobsError,
    RecordingError,
    SerializationError,
)
from rayobs._version import __version__
from rayobs.backends import Backend
from rayobs.backends._serve import serve_metrics
from rayobs.metrics import _failures, _registry
from rayobs.metrics._handles import Counter, Gauge, Histogram

if TYPE_CHECKING:
    from rayobs.calls._decorator import instrument, remote
    from rayobs.calls._flusher import flush
    from rayobs.inspect._api import Failure, SerializabilityReport, inspect_serializability

# Loaded on first use: the CLI imports this package and must start fast.
_LAZY = {
    "flush": "rayobs.calls._flusher",
    "Failure": "rayobs.inspect._api",
    "SerializabilityReport": "rayobs.inspect._api",
    "inspect_serializability": "rayobs.inspect._api",
    "instrument": "rayobs.calls._decorator",
    "remote": "rayobs.calls._decorator",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rayobs' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "Backend",
    "Counter",
    "Failure",
    "Gauge",
    "Histogram",
    "MetricConflictError",
    "MetricDefinitionError",
    "RayobsError",
    "RecordingError",
    "SerializabilityReport",
    "SerializationError",
    "__version__",
    "configure",
    "flush",
    "inspect_serializability",
    "instrument",
    "recording_failures",
    "remote",
    "serve_metrics",
]

_UNSET: Any = object()


def configure(
    *,
    backend: Backend | str | None = _UNSET,
    strict: bool | None = _UNSET,
    max_cardinality: int | None = _UNSET,
) -> None:
    """Override configuration for this process (``None`` returns to the environment).

    ``backend``: ``"ray"``, ``"prometheus"``, ``"otel"``, ``"memory"``, a backend
    instance, or ``None`` for automatic selection. Switching rebinds every handle.
    ``strict``: raise run-time recording failures instead of logging them once.
    ``max_cardinality``: default budget of tag sets per metric.

    >>> import rayobs
    >>> rayobs.configure(backend="prometheus")
    >>> rayobs.configure(backend=None)
    """
    if strict is not _UNSET:
        _config.override(_config.STRICT, strict)
    if max_cardinality is not _UNSET:
        if max_cardinality is not None and (
            not isinstance(max_cardinality, int) or max_cardinality < 1
        ):
            raise ValueError(f"max_cardinality must be a positive integer, got {max_cardinality!r}")
        _config.override(_config.MAX_CARDINALITY, max_cardinality)
    if backend is not _UNSET:
        if backend is None:
            _config.override(_config.BACKEND, None)
            _registry.use_backend(None)
        else:
            _registry.use_backend(backend)


def recording_failures() -> dict[tuple[str, str, str], int]:
    """Failures counted in this process: ``{(metric, stage, exception_type): count}``."""
    return _failures.recording_failures()


# RAYOBS_AUTO=1: auto mode from the first import of rayobs (rayobs.auto). It imports
# nothing of Ray: its patches wait for the program's own `import ray`.
if _config.get(_config.AUTO).strip().lower() not in _config.FALSE_VALUES:
    from rayobs.integrations import auto as _auto

    _auto.instrument_from_env()
