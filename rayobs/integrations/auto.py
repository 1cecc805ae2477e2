"""Zero-code instrumentation: every ``@ray.remote`` function and actor class, no decorator.

``instrument()`` patches the one place where Ray turns a function or class
into a remote one (``ray._private.worker._make_remote``, which ``@ray.remote``,
``ray.remote(**options)(...)`` and ``from ray import remote`` all call), so
what user code defines from then on is instrumented as ``rayobs.instrument``
would with its defaults (Ray's and rayobs's own code never: see
``_user_code``). It also turns on the Ray Data instrumentor
(``rayobs.integrations.data``), adds the inspector's report to Ray's
serialization errors (``_pickling``), and hands auto mode on to the job's
workers: ``ray.init`` gets ``RAYOBS_AUTO=1`` (and the tracing settings) in the
job's ``env_vars`` and, unless the job has a setup hook already,
``rayobs.auto.setup_worker`` as its ``worker_process_setup_hook``.

Nothing of Ray is imported here: the patches wait for the program's own
``import ray`` (``_imports``). ``uninstrument()`` removes every patch; what was
instrumented meanwhile stays instrumented.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from rayobs import _callshape, _config
from rayobs.integrations import data
from rayobs.integrations._patch import PatchedOnImport, Patches
from rayobs.integrations._user_code import (
    instrument_user_code,
    is_skipped,
    is_user_code,
    skip,
)
from rayobs.metrics import _failures

__all__ = [
    "BOOTSTRAP_DIR",
    "SETUP_HOOK",
    "environment",
    "instrument",
    "instrument_from_env",
    "instrument_user_code",
    "is_instrumented",
    "is_skipped",
    "is_user_code",
    "setup_worker",
    "skip",
    "uninstrument",
    "with_auto_mode",
]

# Prepended to PYTHONPATH by `rayobs run`: its sitecustomize imports rayobs first thing.
BOOTSTRAP_DIR = Path(__file__).resolve().parent / "_bootstrap"
SETUP_HOOK = "rayobs.auto.setup_worker"
# What the workers of a job need to instrument as the driver does.
_HANDED_ON = (
    _config.TRACE,
    _config.TRACE_EXPORTER,
    _config.TRACE_SAMPLE_RATIO,
)
_RESERVED_HOOK_ENV = "__RAY_WORKER_PROCESS_SETUP_HOOK_ENV_VAR"  # Ray 2.60's name


def instrument() -> None:
    """Instrument every remote function and actor class user code defines from now on.

    Safe to call again (nothing more happens) and from any thread; never imports Ray.

    >>> import rayobs.auto
    >>> rayobs.auto.instrument()
    >>> rayobs.auto.is_instrumented()
    True
    >>> rayobs.auto.uninstrument()
    """
    if _switch.switch_on():
        data.instrument()


def uninstrument() -> None:
    """Remove every patch (safe to call again). What was instrumented stays instrumented."""
    if _switch.switch_off():
        data.uninstrument()


def is_instrumented() -> bool:
    """True between :func:`instrument` and :func:`uninstrument`."""
    return _switch.on


def instrument_from_env() -> bool:
    """Turn auto mode on when ``RAYOBS_AUTO`` says so; return whether it is on.

    Runs when rayobs is imported. Never raises: a malformed value is logged once
    and counted, and auto mode stays off.
    """
    with _failures.in_background():
        try:
            wanted = _config.get_bool(_config.AUTO)
        except ValueError as exc:
            _failures.report("rayobs.auto", "config", exc)
            return False
    if wanted:
        instrument()
    return wanted


def setup_worker() -> None:
    """Ray's ``worker_process_setup_hook`` for auto mode: instrument in this worker too.

    ``ray.init`` under auto mode sets it for the job unless the job has a hook of
    its own; such a hook can call this first thing.

    >>> import rayobs.auto
    >>> rayobs.auto.setup_worker()
    >>> rayobs.auto.uninstrument()
    """
    instrument()


def environment(
    base: Mapping[str, str], *, trace: bool = False, exporter: str | None = None
) -> dict[str, str]:
    """``base`` plus what starts a Python program in auto mode (what ``rayobs run`` sets).

    >>> env = environment({"PYTHONPATH": "/app"}, exporter="jsonl:/tmp/spans")
    >>> env["RAYOBS_AUTO"], env["RAYOBS_TRACE"], env["PYTHONPATH"].endswith(":/app")
    ('1', '1', True)
    """
    env = dict(base)
    env[_config.AUTO.env] = "1"
    paths = [str(BOOTSTRAP_DIR), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    if trace or exporter:
        env[_config.TRACE.env] = "1"
    if exporter:
        env[_config.TRACE_EXPORTER.env] = exporter
    return env


def _patch_ray(ray: ModuleType, patches: Patches) -> None:
    from ray._private import worker

    from rayobs.integrations import _pickling

    steps: tuple[tuple[str, Callable[[], None]], ...] = (
        ("remote", lambda: patches.replace(worker, "_make_remote", _instrumenting_make_remote)),
        ("workers", lambda: patches.replace(worker, "_maybe_modify_runtime_env", _handing_on)),
        ("serialization notes", lambda: _pickling.install(patches)),
    )
    for what, apply in steps:  # one that Ray no longer allows leaves the others on
        try:
            apply()
        except Exception as exc:
            _failures.report("rayobs.auto", f"patch {what}", exc)


_switch = PatchedOnImport("ray", _patch_ray)


def _instrumenting_make_remote(original: Any) -> Any:
    @functools.wraps(original)
    def _make_remote(function_or_class: Any, options: dict[str, Any]) -> Any:
        target = instrument_user_code(function_or_class)
        try:
            return original(target, options)
        except BaseException as exc:
            _callshape.drop_own_frame(exc, sys._getframe())
            raise

    return _make_remote


def _handing_on(original: Any) -> Any:
    @functools.wraps(original)
    def _maybe_modify_runtime_env(runtime_env: Any, *args: Any, **kwargs: Any) -> Any:
        modified = original(runtime_env, *args, **kwargs)
        with _failures.in_background():
            try:
                return with_auto_mode(modified)
            except Exception as exc:
                _failures.report("rayobs.auto", "runtime env", exc)
        return modified

    return _maybe_modify_runtime_env


def with_auto_mode(runtime_env: Mapping[str, Any] | None) -> dict[str, Any]:
    """A job's runtime env that turns auto mode on in its workers too.

    Adds this process's auto and tracing settings to ``env_vars`` (values the job
    set itself are kept; ``RAYOBS_AUTO=0`` there leaves the job alone) and
    :data:`SETUP_HOOK` as ``worker_process_setup_hook`` unless the job has one
    (its workers then turn auto mode on when they first import rayobs, or in that
    hook, by calling :func:`setup_worker`).

    >>> with_auto_mode({"env_vars": {"A": "1"}})["worker_process_setup_hook"]
    'rayobs.auto.setup_worker'
    """
    env = dict(runtime_env or {})
    env_vars = dict(env.get("env_vars") or {})
    env_vars.setdefault(_config.AUTO.env, "1")
    if str(env_vars[_config.AUTO.env]).strip().lower() in _config.FALSE_VALUES:
        return env  # the job turned it off for its workers
    for setting in _HANDED_ON:
        if setting.env in os.environ:
            env_vars.setdefault(setting.env, os.environ[setting.env])
    env["env_vars"] = env_vars
    # Ray keeps a hook it has already taken in (a submitted job's) in this variable
    if not env.get("worker_process_setup_hook") and _RESERVED_HOOK_ENV not in env_vars:
        env["worker_process_setup_hook"] = SETUP_HOOK
    return env
