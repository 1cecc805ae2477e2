"""Metrics backends: where a handle's samples go.

========== ============================================ =================================
backend    records into                                 ``Counter("x")`` is exported as
========== ============================================ =================================
ray        ``ray.util.metrics`` → node metrics agent    ``ray_x_total`` (Ray adds ``ray_``)
prometheus ``prometheus_client`` (global registry)      ``x_total``
otel       OpenTelemetry SDK meter provider             ``x`` (the reader names it)
memory     a dict, for tests (``rayobs.testing``)       ``x``
========== ============================================ =================================

Each backend turns a :class:`~rayobs.metrics._spec.MetricSpec` into an instrument once
per process, and an instrument binds a complete tag set into a *child* whose
``inc``/``set``/``dec``/``observe`` is the hot path.
"""

from __future__ import annotations

from rayobs.backends._base import BACKEND_NAMES, Backend, Instrument, load_backend

__all__ = ["BACKEND_NAMES", "Backend", "Instrument", "load_backend"]
