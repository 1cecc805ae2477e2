"""Integrations: rayobs applied to what other code creates, without that code changing.

- ``rayobs.integrations.auto``: zero-code instrumentation of every ``@ray.remote``
  function and actor class defined outside Ray and rayobs (``rayobs.auto`` is its
  public face, ``rayobs run`` its launcher).
- ``rayobs.integrations.data``: the functions and callable classes given to Ray
  Data's ``map``, ``map_batches``, ``flat_map`` and ``filter``.
- ``rayobs.integrations.serve``: Ray Serve deployments, ingress routes, handles.
- ``rayobs.integrations.hamilton``: Hamilton dataflows (``rayobs.hamilton``).

Importing this package imports none of the frameworks: it registers small hooks
with ``rayobs._extensions`` that load an integration only once its framework is
loaded in the process (``ray.serve`` in ``sys.modules``), so a Serve replica that
unpickles an instrumented class gets its application and deployment tags and,
once tracing is used there, its callers' trace context, with no extra code.
"""

from __future__ import annotations

import sys
from typing import Any

from rayobs import _extensions

_SERVE = "ray.serve"


def _serve_adapter(target: Any, options: Any) -> Any:
    if _SERVE not in sys.modules:  # nothing can be a Serve object before Serve is loaded
        return _extensions.NOT_MINE
    from rayobs.integrations import serve

    return serve.adapt(target, options)


def _serve_tags() -> dict[str, str] | None:
    if _SERVE not in sys.modules:
        return None
    from rayobs.integrations import serve

    return serve.replica_tags()


def _serve_carrier() -> dict[str, str] | None:
    if _SERVE not in sys.modules:
        return None
    from rayobs.integrations import serve

    return serve.incoming_carrier()


def _serve_install() -> None:
    if _SERVE in sys.modules:
        from rayobs.integrations import serve

        serve.install()
        # asked on every traced call without a caller's context: only where Serve runs
        _extensions.register(carrier=_serve_carrier)


_extensions.register(adapter=_serve_adapter, tags=_serve_tags, installer=_serve_install)
