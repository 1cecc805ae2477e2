"""The backend protocol and the loader that picks one by name."""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from rayobs._spec import MetricSpec

BACKEND_NAMES = ("ray", "prometheus", "otel", "memory")

_MODULES = {
    "ray": ("rayobs.backends._ray", "RayBackend", "ray[default]"),
    "prometheus": ("rayobs.backends._prometheus", "PrometheusBackend", "prometheus-client"),
    "otel": ("rayobs.backends._otel", "OtelBackend", "rayobs[otel]"),
    "memory": ("rayobs.backends._memory", "MemoryBackend", "rayobs"),
}


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
