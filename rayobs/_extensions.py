"""Extension points that the integrations fill in, so no lower layer imports one.

The decorator, the call records and the tracing wrappers ask here; the
integrations (``rayobs.integrations``) register here when rayobs is imported.
Each source is called on rayobs's own path, never the user's: whatever it
raises is swallowed and the source counts as having nothing to say.

- ``adapters``: ``adapter(target, options)`` instruments a target that only an
  integration understands (a Serve ``Deployment``) or returns ``NOT_MINE``.
- ``tag_sources``: the tags a process's surroundings give calls that carry none
  of their own (Serve's replica context: ``app`` and ``component``).
- ``carrier_sources``: the W3C context a call arrived with when it did not come
  through ``.remote()`` (a ``DeploymentHandle`` call, an HTTP ``traceparent``).
- ``installers``: patches to apply once tracing is used in a process.

>>> from rayobs import _extensions
>>> _extensions.context_tags()  # nothing registered says anything here
{}
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

logger = logging.getLogger("rayobs")

NOT_MINE: Any = object()

Adapter = Callable[[Any, Any], Any]
TagSource = Callable[[], "Mapping[str, str] | None"]
CarrierSource = Callable[[], "dict[str, str] | None"]
Installer = Callable[[], None]

adapters: list[Adapter] = []
tag_sources: list[TagSource] = []
carrier_sources: list[CarrierSource] = []
installers: list[Installer] = []


def register(
    *,
    adapter: Adapter | None = None,
    tags: TagSource | None = None,
    carrier: CarrierSource | None = None,
    installer: Installer | None = None,
) -> None:
    """Add an integration's hooks (registering the same function twice adds it once)."""
    for hook, hooks in (
        (adapter, adapters),
        (tags, tag_sources),
        (carrier, carrier_sources),
        (installer, installers),
    ):
        if hook is not None and hook not in hooks:
            hooks.append(hook)  # type: ignore[arg-type]


def adapt(target: Any, options: Any) -> Any:
    """What the first adapter that knows ``target`` makes of it, or ``NOT_MINE``.

    Unlike the other sources an adapter runs at decoration time, where misuse
    raises (``MetricDefinitionError``): its exceptions propagate.
    """
    for adapter in adapters:
        result = adapter(target, options)
        if result is not NOT_MINE:
            return result
    return NOT_MINE


def context_tags() -> dict[str, str]:
    """Tags from the process's surroundings; the first source that answers wins."""
    found = _first_answer(tag_sources, "tag")
    return dict(found) if found else {}


def incoming_carrier() -> dict[str, str] | None:
    """The W3C context the current call arrived with, if a source knows one."""
    return _first_answer(carrier_sources, "carrier")


def _first_answer(
    sources: Sequence[Callable[[], Mapping[str, str] | None]], what: str
) -> dict[str, str] | None:
    for source in sources:
        try:
            found = source()
        except Exception as exc:
            logger.debug("rayobs: %s source %r failed: %s", what, source, exc)
            continue
        if found:
            return dict(found)
    return None


def install() -> None:
    """Run every installer (each must be safe to run again)."""
    for installer in installers:
        try:
            installer()
        except Exception as exc:  # the calls still run and are measured, only not linked
            logger.warning("rayobs: %r could not be installed: %s", installer, exc)
