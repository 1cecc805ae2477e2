"""The background push of call statistics, shortly after calls end.

See ``_Flusher`` for when it pushes and why: a Ray worker whose job has finished
is ended with no Python code running, so counts must not wait for an interval.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, Protocol

from rayobs import _config
from rayobs.metrics import _failures, _registry


class Pushed(Protocol):
    """What the flusher pushes: one instrumented callable's records (``_stats.Site``)."""

    spec: Any

    def flush(self) -> None: ...
    def prepare(self) -> None: ...
    def forget_pending(self) -> None: ...
    def rebind(self) -> None: ...
    def after_fork(self) -> None: ...


class _Flusher:
    """The daemon thread that pushes every site's counts shortly after calls end.

    A Ray worker whose job has finished is ended by Ray's C++ core worker with no
    Python code running (no signal, no ``atexit``); Ray flushes what was recorded
    into ``ray.util.metrics`` and exits at once, as soon as a few tens of
    milliseconds after the last result reached the driver. So counts must not
    wait for an interval. A call arms the thread when it starts and when it ends,
    unless a push is already due (one attribute read), and stamps ``last`` when it
    ends; the thread pushes once no call has ended for ``RAYOBS_FLUSH_DELAY``, or
    ``_MAX_WAIT`` after it was armed while calls keep ending. A burst of calls
    costs one push per ``_MAX_WAIT``, and its last call is pushed a few
    milliseconds after it ends. With nothing happening the thread wakes once per
    flush interval.
    """

    def __init__(self) -> None:
        self._sites: dict[Pushed, None] = {}  # insertion-ordered set
        self._unprepared: list[Pushed] = []  # sites whose instruments are still to create
        self._lock = threading.Lock()
        self._pushing = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._wake = threading.Event()
        # True while a push is due: the hot path's only check
        self.armed = False
        self.last = 0.0  # time.perf_counter() when a call last ended

    def watch(self, site: Pushed) -> None:
        """Push ``site`` from now on (its first call in a thread)."""
        with self._lock:
            self._sites[site] = None
            self._start()

    def expect(self, site: Pushed) -> None:
        """Prepare ``site``'s instruments in the background: its calls are coming."""
        with self._lock:
            self._unprepared.append(site)
            self._start()
        self._wake.set()

    def _start(self) -> None:
        """Start the thread if it is not running (the caller holds ``_lock``)."""
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="rayobs-flush", daemon=True)
            self._thread.start()
            # Registered now rather than at import: atexit runs the newest handler
            # first, and a driver's Ray (imported by then) shuts its metrics down in
            # its own atexit handler, which must come after this one.
            atexit.register(self.shutdown)

    def __reduce__(self) -> tuple[Any, ...]:
        # wrappers close over the flusher: a copy elsewhere uses that process's own
        return (_process_flusher, ())

    def poke(self) -> None:
        """Have the thread push soon (called by an instrumented call)."""
        self.armed = True
        self._wake.set()

    def flush(self) -> None:
        # one push at a time: two at once would both push the same difference
        with self._pushing:
            self.push()

    def push_now(self) -> None:
        """Push from the calling thread, never raising (strict mode included)."""
        with _failures.in_background():
            self.flush()

    def push(self) -> None:
        """Push every site's difference (the caller holds ``_pushing``)."""
        with self._lock:
            sites = list(self._sites)
        for site in sites:
            try:
                site.flush()
            except Exception as exc:
                _failures.report(site.spec.name, "flush", exc)

    def _prepare(self) -> None:
        if not self._unprepared:
            return
        with self._pushing:  # never binds to a backend being switched away from
            with self._lock:
                sites = list(self._unprepared)
            for site in sites:
                # a failure here is reported by the push that meets it again
                with contextlib.suppress(Exception):
                    site.prepare()
            with self._lock:  # only now: "unprepared" stays true until they are
                del self._unprepared[: len(sites)]

    def _run(self) -> None:
        while not self._stopping:
            self._prepare()
            if self._wake.wait(_interval()):
                self._settle()
                self._wake.clear()
            # disarm before reading the counts: a call that ends after this line arms
            # the next push, one that ended before it is in this one
            self.armed = False
            with _failures.in_background():
                self.flush()

    def shutdown(self) -> None:
        """The last push, at normal exit: the thread stops and this pushes what is left."""
        self._stopping = True
        self._wake.set()
        with _failures.in_background():
            self.flush()

    def _settle(self) -> None:
        """Wait until no call has ended for the delay, or ``_MAX_WAIT`` has passed."""
        clock = time.perf_counter
        delay = _delay()
        now = clock()
        give_up = now + _MAX_WAIT
        while True:
            quiet_at = self.last + delay
            if quiet_at <= now or now >= give_up:
                return
            time.sleep(min(quiet_at, give_up) - now)
            now = clock()

    def forget_pending(self) -> None:
        with self._lock:
            sites = list(self._sites)
        with self._pushing:
            for site in sites:
                site.forget_pending()

    def rebind(self) -> None:
        with self._lock:
            sites = list(self._sites)
        for site in sites:
            site.rebind()

    def after_fork(self) -> None:
        """In a forked child: the parent pushes its own counts; start from zero."""
        self._lock = threading.Lock()
        self._pushing = threading.Lock()
        self._thread = None
        self._stopping = False
        self._unprepared = []
        self._wake = threading.Event()
        self.armed = False
        self.last = 0.0
        for site in self._sites:
            site.after_fork()


def _seconds(setting: _config.Setting) -> float | None:
    raw = _config.get(setting).strip().lower()
    if raw in ("", "auto"):
        return None
    try:
        return float(raw)
    except ValueError:
        return None


def _interval() -> float:
    seconds = _seconds(_config.FLUSH_INTERVAL)
    if seconds is not None:
        return max(seconds, 0.05)
    if getattr(_registry.backend(), "name", "") == "ray":
        with contextlib.suppress(Exception):
            import ray

            return max(int(ray._config.metrics_report_interval_ms()), 1000) / 2000
    return 1.0


_MAX_WAIT = 0.1  # seconds a push waits for calls to pause


def _delay() -> float:
    seconds = _seconds(_config.FLUSH_DELAY)
    return 0.005 if seconds is None else min(max(seconds, 0.0), _MAX_WAIT)


flusher = _Flusher()


def _process_flusher() -> _Flusher:
    return flusher


def forget_pending() -> None:
    """Drop what was counted but not pushed yet (``rayobs.testing.reset``)."""
    flusher.forget_pending()


def backend_changed() -> None:
    """Called by the registry after a backend switch."""
    flusher.rebind()


@contextlib.contextmanager
def switching(push: bool) -> Iterator[None]:
    """Around a backend switch: first push what was counted (``push``), into the
    backend being replaced, then keep the background push out until the switch is
    done, so it never binds a handle to the old backend. Takes the push lock before
    the registry's lock, as the background push does."""
    with paused():
        if push:
            # reported and counted; switching must not raise for it
            with _failures.in_background():
                flusher.push()
        yield


@contextlib.contextmanager
def paused() -> Iterator[_Flusher]:
    """Hold every other push back; ``push()`` on the flusher yielded pushes now.

    Benchmarks time an instrumented caller without the background push sharing
    the interpreter, then time the push on its own.
    """
    with flusher._pushing:
        yield flusher


def flush() -> None:
    """Push every instrumented call counted in this process to the metrics backend now.

    Counts are pushed in the background a few milliseconds after calls pause
    (``RAYOBS_FLUSH_DELAY``), at least every 0.1 s while they keep ending, and at
    normal exit; call this before reading a test backend.
    """
    flusher.flush()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=flusher.after_fork)


# The registry pushes these records before a backend switch; it never imports
# this module.
_registry.keep_records(sys.modules[__name__])
