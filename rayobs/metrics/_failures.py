"""The run-time failure policy: log once, count, never raise into user code.

Instrumentation runs inside the user's hot path. When recording fails (a broken
backend, Ray's metrics agent gone, a tag misuse) the user's call must carry on:
the failure is logged once per (metric, stage, exception type) and counted.
With strict mode on (``RAYOBS_STRICT=1`` or ``rayobs.configure(strict=True)``)
the failure is raised instead, so tests see it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter as _Tally
from collections.abc import Callable, Iterator
from typing import NoReturn

from rayobs import _config
from rayobs._errors import RecordingError

logger = logging.getLogger("rayobs")

_lock = threading.Lock()
_counts: _Tally[tuple[str, str, str]] = _Tally()


_background = threading.local()


@contextlib.contextmanager
def in_background() -> Iterator[None]:
    """Failures reported inside are logged and counted, never raised, strict mode
    included: no user code is there to see them (the background push, the gauge
    keeper, the worker setup hook)."""
    previous = getattr(_background, "on", False)
    _background.on = True
    try:
        yield
    finally:
        _background.on = previous


def report(metric: str, stage: str, exc: BaseException) -> None:
    """Record that ``stage`` of ``metric`` failed with ``exc``.

    Raises ``RecordingError`` (chained to ``exc``) in strict mode, except
    ``in_background()``; otherwise logs the first occurrence of each (metric,
    stage, type) and counts all.
    """
    if _strict() and not getattr(_background, "on", False):
        _raise(metric, stage, exc)
    key = (metric, stage, type(exc).__name__)
    with _lock:
        _counts[key] += 1
        first = _counts[key] == 1
    if first:
        logger.warning(
            "rayobs: %s of metric %r failed: %s: %s (logged once; further failures are "
            "only counted, see rayobs.recording_failures())",
            stage,
            metric,
            type(exc).__name__,
            exc,
        )
    _export(metric, stage)


def _strict() -> bool:
    try:
        return _config.get_bool(_config.STRICT)
    except ValueError:
        return False


def _raise(metric: str, stage: str, exc: BaseException) -> NoReturn:
    raise RecordingError(
        f"{stage} of metric {metric!r} failed: {type(exc).__name__}: {exc}"
    ) from exc


_exporting = threading.local()
_exporter: Callable[[str, str], None] | None = None


def export_with(exporter: Callable[[str, str], None]) -> None:
    """Count every failure in the exported counter too, with ``exporter(metric, stage)``
    (the registry's, once it is imported)."""
    global _exporter
    _exporter = exporter


def _export(metric: str, stage: str) -> None:
    """Count the failure in the exported ``rayobs_recording_failures`` counter too.

    Guarded against recursion: if recording the failure counter fails as well,
    the in-process tally above is all there is.
    """
    exporter = _exporter
    if exporter is None or getattr(_exporting, "active", False):
        return
    _exporting.active = True
    try:
        exporter(metric, stage)
    except Exception:  # the tally above already has it
        pass
    finally:
        _exporting.active = False


def recording_failures() -> dict[tuple[str, str, str], int]:
    """Return the failures counted in this process: ``{(metric, stage, exc_type): n}``."""
    with _lock:
        return dict(_counts)


def reset() -> None:
    with _lock:
        _counts.clear()
