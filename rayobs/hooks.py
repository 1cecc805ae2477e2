"""A worker setup hook for Ray: tracebacks on crashes, per-worker profiles, memory, debugger.

Give it to Ray by name, and configure it with ``RAYOBS_*`` variables (in the
runtime env, or in the environment of ``ray start`` so every worker inherits
them)::

    ray.init(runtime_env={
        "worker_process_setup_hook": "rayobs.hooks.setup_worker",
        "env_vars": {"RAYOBS_WORKER_RSS_INTERVAL": "5"},
    })

or with explicit options, as a callable::

    ray.init(runtime_env={"worker_process_setup_hook": rayobs.hooks.worker_hook(rss_interval=5)})

Each worker process then gets:

- ``faulthandler`` for all threads (``RAYOBS_FAULTHANDLER``, on by default): a worker that
  dies of SIGSEGV, SIGFPE, SIGABRT or SIGBUS leaves every thread's Python traceback in its
  ``worker-*.err`` log, where ``rayobs diagnose`` finds it.
- a cProfile of the worker's main thread (where Ray runs tasks and the methods of
  ordinary actors) in ``RAYOBS_WORKER_CPROFILE_DIR/worker-<pid>.prof``, rewritten every
  5 s and at a clean exit (off by default).
- its resident memory in the gauges ``rayobs_worker_rss_bytes`` and
  ``rayobs_worker_rss_peak_bytes`` every ``RAYOBS_WORKER_RSS_INTERVAL`` seconds, from a
  daemon thread (off by default).
- a connection out to a PyCharm debug server at ``RAYOBS_PYCHARM`` (off by default; see
  ``rayobs.debug``).
- a watch on its memory cgroup's ``oom_kill`` counter every ``RAYOBS_OOM_WATCH_INTERVAL``
  seconds (off by default): each rise of the counter, with the processes gone at that
  moment, is written to ``rayobs-oom-*.log`` in the session's logs directory, so
  ``rayobs diagnose --session-dir`` names a kernel OOM kill after the node is gone.
  One worker per cgroup samples (a file lock); the others only try the lock.

The hook never raises into the worker: a step that fails is logged once and
counted in ``rayobs_recording_failures{metric="rayobs.hooks"}``, and the others
still run. Calling it again in the same process changes nothing.
"""

from __future__ import annotations

import atexit
import contextlib
import faulthandler
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from rayobs import _config
from rayobs.metrics import _failures

__all__ = ["HookOptions", "setup_worker", "worker_hook"]

_FAILURE_KEY = "rayobs.hooks"
CPROFILE_SNAPSHOT_SECONDS = 5.0
_lock = threading.Lock()
_done: set[str] = set()  # steps already applied in this process


@dataclass(frozen=True)
class HookOptions:
    """What the setup hook turns on. ``None`` fields are read from ``RAYOBS_*`` variables."""

    faulthandler: bool | None = None
    cprofile_dir: str | None = None
    rss_interval: float | None = None
    pycharm: str | None = None
    oom_watch_interval: float | None = None

    def resolved(self) -> HookOptions:
        """Fill every ``None`` from the environment.

        A malformed variable is logged once and counted, and its feature stays
        off (faulthandler stays on): the hook must not stop a worker from starting.
        """
        return HookOptions(
            faulthandler=_pick(self.faulthandler, _config.FAULTHANDLER, _config.get_bool, True),
            cprofile_dir=_pick(self.cprofile_dir, _config.WORKER_CPROFILE_DIR, _text, ""),
            rss_interval=_pick(self.rss_interval, _config.WORKER_RSS_INTERVAL, _seconds, 0.0),
            pycharm=_pick(self.pycharm, _config.PYCHARM, _text, ""),
            oom_watch_interval=_pick(
                self.oom_watch_interval, _config.OOM_WATCH_INTERVAL, _seconds, 0.0
            ),
        )


T = TypeVar("T")


def _pick(
    value: T | None, setting: _config.Setting, read: Callable[[_config.Setting], T], off: T
) -> T:
    if value is not None:
        return value
    try:
        return read(setting)
    except ValueError as exc:
        _failures.report(_FAILURE_KEY, "config", exc)
        return off


def _text(setting: _config.Setting) -> str:
    return _config.get(setting).strip()


def setup_worker(options: HookOptions | None = None) -> None:
    """Ray's ``worker_process_setup_hook``: apply ``options`` (default: from the environment).

    >>> from rayobs.hooks import setup_worker
    >>> setup_worker()  # what Ray does in each new worker
    """
    resolved = (options or HookOptions()).resolved()
    if resolved.faulthandler:
        _step("faulthandler", _enable_faulthandler)
    if resolved.cprofile_dir:
        _step("cprofile", lambda: _start_cprofile(Path(resolved.cprofile_dir or ".")))
    if resolved.rss_interval:
        _step("rss", lambda: _start_rss_sampler(float(resolved.rss_interval or 0)))
    if resolved.pycharm:
        _step("pycharm", lambda: _attach(resolved.pycharm or ""))
    if resolved.oom_watch_interval:
        _step("oom_watch", lambda: _watch_oom(float(resolved.oom_watch_interval or 0)))
    if _config.get(_config.TRACE_EXPORTER).strip() or _config.get(_config.OTEL_METRICS).strip():
        _step("otel", _setup_otel)


def _setup_otel() -> None:
    """Traces and OTel metrics from ``RAYOBS_TRACE_EXPORTER`` / ``RAYOBS_OTEL_METRICS``."""
    from rayobs import otel

    otel.setup_worker()


def worker_hook(
    *,
    faulthandler: bool | None = None,
    cprofile_dir: str | os.PathLike[str] | None = None,
    rss_interval: float | None = None,
    pycharm: str | None = None,
    oom_watch_interval: float | None = None,
) -> Callable[[], None]:
    """A setup hook with explicit options; any option left ``None`` comes from ``RAYOBS_*``.

    Ray pickles the returned function and runs it in each new worker.

    >>> import rayobs.hooks
    >>> hook = rayobs.hooks.worker_hook(rss_interval=5)
    >>> hook.__name__
    'rayobs_worker_hook'
    """
    if rss_interval is not None and rss_interval < 0:
        raise ValueError(f"rss_interval must be >= 0 seconds, got {rss_interval!r}")
    if oom_watch_interval is not None and oom_watch_interval < 0:
        raise ValueError(f"oom_watch_interval must be >= 0 seconds, got {oom_watch_interval!r}")
    options = HookOptions(
        faulthandler=faulthandler,
        cprofile_dir=None if cprofile_dir is None else os.fspath(cprofile_dir),
        rss_interval=rss_interval,
        pycharm=pycharm,
        oom_watch_interval=oom_watch_interval,
    )

    def rayobs_worker_hook() -> None:
        setup_worker(options)

    return rayobs_worker_hook


def _seconds(setting: _config.Setting) -> float:
    raw = _config.get(setting).strip()
    try:
        value = float(raw or "0")
    except ValueError:
        raise ValueError(f"{setting.env}={raw!r} is not a number of seconds") from None
    if value < 0 or value != value:
        raise ValueError(f"{setting.env}={raw!r} must be >= 0")
    return value


def _step(name: str, action: Callable[[], Any]) -> None:
    """Run ``action`` once per process; log once and count if it fails."""
    with _lock:
        if name in _done:
            return
        _done.add(name)
    with _failures.in_background():  # a worker's start-up: no user code to raise into
        try:
            action()
        except Exception as exc:
            _failures.report(_FAILURE_KEY, name, exc)


def _enable_faulthandler() -> None:
    # Ray enables it for the current thread only; all threads show what else was running.
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        fd = 2  # Ray may wrap sys.stderr; fd 2 is still the worker's .err log
    faulthandler.enable(file=fd, all_threads=True)


def _start_cprofile(directory: Path) -> None:
    import cProfile
    import marshal

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"worker-{os.getpid()}.prof"
    tmp = directory / f".worker-{os.getpid()}.prof.tmp"
    profiler = cProfile.Profile()
    lock = threading.Lock()

    def dump() -> None:
        # snapshot_stats reads the counters without disable(), which would only stop
        # profiling of the calling thread anyway: safe from this daemon thread.
        with lock:
            try:
                profiler.snapshot_stats()
                with tmp.open("wb") as f:
                    marshal.dump(profiler.stats, f)
                os.replace(tmp, path)
            except Exception as exc:  # never raise into the worker
                _failures.report(_FAILURE_KEY, "cprofile", exc)

    def snapshots() -> None:
        while True:
            time.sleep(CPROFILE_SNAPSHOT_SECONDS)
            dump()

    # Ray ends most workers without running atexit (job end, ray.kill, idle reaping),
    # so the file is refreshed periodically as well as at a clean exit.
    atexit.register(dump)
    threading.Thread(target=snapshots, name="rayobs-cprofile-snapshots", daemon=True).start()
    profiler.enable()  # the main thread: where Ray runs tasks and sync actor methods


def _start_rss_sampler(interval: float) -> None:
    from rayobs.metrics import _own

    read = _rss_reader()
    stop = threading.Event()

    def run() -> None:
        failed = False
        while not stop.is_set():
            try:
                rss, peak = read()
                _own.WORKER_RSS.set(rss)
                # The kernel updates its high-water mark lazily; never report it below now.
                _own.WORKER_RSS_PEAK.set(max(rss, peak))
                failed = False
            except Exception as exc:
                if not failed:  # report each new run of failures, not every tick
                    _failures.report(_FAILURE_KEY, "rss", exc)
                failed = True
            stop.wait(interval)

    thread = threading.Thread(target=run, name="rayobs-rss-sampler", daemon=True)
    thread.start()
    atexit.register(stop.set)


def _rss_reader() -> Callable[[], tuple[int, int]]:
    """``() -> (rss_bytes, peak_rss_bytes)`` for this process, as cheap as the OS allows."""
    import resource

    page = os.sysconf("SC_PAGE_SIZE")
    # ru_maxrss is in KiB on Linux, in bytes on macOS.
    peak_scale = 1 if sys.platform == "darwin" else 1024

    def peak() -> int:
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * peak_scale

    if os.path.exists("/proc/self/statm"):

        def from_proc() -> tuple[int, int]:
            with open("/proc/self/statm", "rb") as f:
                return int(f.read().split()[1]) * page, peak()

        return from_proc
    import psutil  # elsewhere: Ray depends on psutil

    process = psutil.Process()

    def from_psutil() -> tuple[int, int]:
        return int(process.memory_info().rss), peak()

    return from_psutil


def _watch_oom(interval: float) -> None:
    from rayobs import _oomwatch

    cgroup = _oomwatch.own_memory_cgroup()
    logs = _session_logs()
    missing = [
        what
        for what, found in (
            ("no memory cgroup with an oom_kill counter", cgroup),
            ("no Ray session logs directory", logs),
        )
        if found is None
    ]
    if cgroup is None or logs is None:
        raise RuntimeError(f"RAYOBS_OOM_WATCH_INTERVAL: {'; '.join(missing)}")
    node = None
    with contextlib.suppress(Exception):
        import ray

        node = ray.get_runtime_context().get_node_id()
    watcher = _oomwatch.Watcher(cgroup[0], cgroup[1], logs, node)
    watcher.start(interval)
    atexit.register(watcher.stop)


def _session_logs() -> Path | None:
    """The logs directory of the Ray session this worker belongs to."""
    with contextlib.suppress(Exception):
        from ray._private import worker

        node = worker._global_node
        if node is not None:
            return Path(node.get_logs_dir_path())
    # Ray points a worker's stderr at logs/worker-<id>-<job>-<pid>.err.
    with contextlib.suppress(OSError):
        target = Path(os.readlink("/proc/self/fd/2"))
        if target.name.startswith("worker-"):
            return target.parent
    return None


def _attach(target: str) -> None:
    from rayobs import debug

    debug.attach_pycharm_to(target)


def _reset_for_tests() -> None:
    with _lock:
        _done.clear()
