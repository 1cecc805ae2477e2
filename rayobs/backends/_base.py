"""The backend protocol and the loader that picks one by name."""

from __future__ import annotations

import importlib
import threading
from typing import Any, Protocol

from rayobs.metrics._spec import MetricSpec

BACKEND_NAMES = ("ray", "prometheus", "otel", "memory")

# Loaded by name: the memory backend lives with the readers tests use (rayobs.testing).
_MODULES = {
    "ray": ("rayobs.backends._ray", "RayBackend", "ray[default]"),
    "prometheus": ("rayobs.backends._prometheus", "PrometheusBackend", "prometheus-client"),
    "otel": ("rayobs.backends._otel", "OtelBackend", "rayobs[otel]"),
    "memory": ("rayobs.testing._backend", "MemoryBackend", "rayobs"),
}


class SetOnlyGauge:
    """A gauge child for a library whose gauges only have ``set`` (Ray, OpenTelemetry).

    The child keeps the value for ``inc``/``dec``, and updates it and records it
    (``_record``, the subclass's) under one lock, so concurrent calls in a
    threaded actor lose no update and the last value recorded is the last one
    computed. The lock is taken with ``acquire``/``release``: a ``with`` block
    costs about 0.2 µs more per call here.
    """

    __slots__ = ("lock", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.lock = threading.Lock()

    def set(self, value: float) -> None:
        value = float(value)
        self.lock.acquire()
        try:
            self._record(value)
        finally:
            self.lock.release()

    def inc(self, value: float = 1.0) -> None:
        self.lock.acquire()
        try:
            self._record(self.value + value)
        finally:
            self.lock.release()

    def dec(self, value: float = 1.0) -> None:
        self.lock.acquire()
        try:
            self._record(self.value - value)
        finally:
            self.lock.release()

    def _record(self, value: float) -> None:
        """Under the lock: store ``value`` and hand it to the library."""
        raise NotImplementedError


class Instrument(Protocol):
    """A backend metric. ``bind`` gets a complete tag set in ``spec.tag_keys`` order."""

    def bind(self, tags: dict[str, str]) -> Any: ...


class Backend(Protocol):
    """Creates one instrument per metric spec."""

    name: str

    def create(self, spec: MetricSpec) -> Instrument: ...


def load_backend(name: str) -> Backend:
    """Instantiate the backend called ``name`` (one of ``BACKEND_NAMES``).

    Raises ``ValueError`` for an unknown name and ``ImportError`` with an install
    hint when the backend's library is missing.
    """
    try:
        module_name, class_name, extra = _MODULES[name]
    except KeyError:
        raise ValueError(
            f"unknown rayobs backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}"
        ) from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"the {name} backend needs {exc.name}: pip install {extra}") from exc
    backend: Backend = getattr(module, class_name)()
    return backend
