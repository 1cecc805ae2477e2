"""Configuration: every ``RAYOBS_*`` environment variable is declared here, once.

Values are read at call time, so a test or a worker setup hook can change the
environment and the next lookup sees it. ``rayobs.configure(...)`` overrides the
environment for the current process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
FALSE_VALUES = frozenset(_FALSE)


@dataclass(frozen=True)
class Setting:
    """One ``RAYOBS_*`` environment variable: its name, default and meaning."""

    env: str
    default: str
    help: str


BACKEND = Setting(
    "RAYOBS_BACKEND",
    "auto",
    "Metrics backend: auto, ray, prometheus, otel or memory. 'auto' picks ray inside a "
    "Ray worker or a driver connected to Ray, prometheus otherwise.",
)
STRICT = Setting(
    "RAYOBS_STRICT",
    "0",
    "1 turns run-time recording failures into exceptions (for tests); by default they are "
    "logged once and counted.",
)
MAX_CARDINALITY = Setting(
    "RAYOBS_MAX_CARDINALITY",
    "1000",
    "Default budget of distinct tag-value sets per metric and process; beyond it tag "
    "values fold into '__other__'.",
)

FLUSH_DELAY = Setting(
    "RAYOBS_FLUSH_DELAY",
    "0.005",
    "Seconds with no instrumented call ending before the counts are pushed to the backend "
    "(at most 0.1; while calls keep ending they are pushed every 0.1 s).",
)
FLUSH_INTERVAL = Setting(
    "RAYOBS_FLUSH_INTERVAL",
    "auto",
    "Seconds between pushes of the task and actor call metrics while no call starts or "
    "ends. 'auto' is half of Ray's metrics export interval on the ray backend, 1 otherwise.",
)

SETTINGS: tuple[Setting, ...] = (BACKEND, STRICT, MAX_CARDINALITY, FLUSH_DELAY, FLUSH_INTERVAL)

# ---- worker setup hook and debugger (rayobs.hooks, rayobs.debug) ----

FAULTHANDLER = Setting(
    "RAYOBS_FAULTHANDLER",
    "1",
    "1 makes rayobs.hooks.setup_worker enable faulthandler for all threads, so a worker "
    "that crashes in native code leaves every thread's Python traceback in its log.",
)
WORKER_CPROFILE_DIR = Setting(
    "RAYOBS_WORKER_CPROFILE_DIR",
    "",
    "Directory where rayobs.hooks.setup_worker keeps one cProfile stats file per worker, "
    "rewritten every 5 s and at a clean exit; empty means off.",
)
WORKER_RSS_INTERVAL = Setting(
    "RAYOBS_WORKER_RSS_INTERVAL",
    "0",
    "Seconds between samples of a worker's resident memory into rayobs_worker_rss_bytes "
    "(rayobs.hooks.setup_worker); 0 means off.",
)
PYCHARM = Setting(
    "RAYOBS_PYCHARM",
    "",
    "host:port of a PyCharm debug server that rayobs.debug.attach_pycharm (and the setup "
    "hook) connects out to; empty means never.",
)

OOM_WATCH_INTERVAL = Setting(
    "RAYOBS_OOM_WATCH_INTERVAL",
    "0",
    "Seconds between samples of the worker's memory cgroup oom_kill counter "
    "(rayobs.hooks.setup_worker); each rise is written with the processes gone to "
    "rayobs-oom-*.log in the session's logs directory, for rayobs diagnose --session-dir. "
    "0 means off.",
)

SETTINGS += (FAULTHANDLER, WORKER_CPROFILE_DIR, WORKER_RSS_INTERVAL, PYCHARM, OOM_WATCH_INTERVAL)

# ---- tracing and the OpenTelemetry backend (rayobs.otel) ----

TRACE = Setting(
    "RAYOBS_TRACE",
    "0",
    "1 turns tracing on for every rayobs.instrument / rayobs.remote that does not say "
    "trace=False; read when the decorator runs.",
)
TRACE_EXPORTER = Setting(
    "RAYOBS_TRACE_EXPORTER",
    "",
    "Where spans go, set up on a process's first traced call: jsonl:DIR (one file per "
    "process), console, otlp (needs opentelemetry-exporter-otlp), or empty for whatever "
    "the process configured itself.",
)
TRACE_SAMPLE_RATIO = Setting(
    "RAYOBS_TRACE_SAMPLE_RATIO",
    "1.0",
    "Fraction of new traces sampled (0 to 1); calls follow their caller's decision.",
)
OTEL_METRICS = Setting(
    "RAYOBS_OTEL_METRICS",
    "",
    "Set by rayobs.otel.setup_worker: otlp, or prometheus:PORT (served on 127.0.0.1), to "
    "record every handle through OpenTelemetry; empty leaves the backend alone.",
)

SETTINGS += (TRACE, TRACE_EXPORTER, TRACE_SAMPLE_RATIO, OTEL_METRICS)

# ---- zero-code instrumentation (rayobs.auto, rayobs run) ----

AUTO = Setting(
    "RAYOBS_AUTO",
    "0",
    "1 turns on auto mode when rayobs is imported (rayobs run also imports it first thing): "
    "every @ray.remote function and actor class and every Ray Data function defined "
    "outside Ray and rayobs is instrumented with no decorator, Ray's serialization errors "
    "gain the inspector's report, and ray.init hands the mode on to the job's workers.",
)

SETTINGS += (AUTO,)

_overrides: dict[str, str] = {}


def get(setting: Setting) -> str:
    """Return the value in force for ``setting``: override, then environment, then default."""
    if setting.env in _overrides:
        return _overrides[setting.env]
    return os.environ.get(setting.env, setting.default)


def get_bool(setting: Setting) -> bool:
    raw = get(setting).strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"{setting.env}={raw!r} is not a boolean; use 1 or 0")


def get_int(setting: Setting, minimum: int = 1) -> int:
    raw = get(setting).strip()
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{setting.env}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ValueError(f"{setting.env}={value} must be at least {minimum}")
    return value


def override(setting: Setting, value: Any) -> None:
    """Pin ``setting`` for this process (``None`` removes the override)."""
    if value is None:
        _overrides.pop(setting.env, None)
    elif isinstance(value, bool):
        _overrides[setting.env] = "1" if value else "0"
    else:
        _overrides[setting.env] = str(value)


def clear_overrides() -> None:
    _overrides.clear()
