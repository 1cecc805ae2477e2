"""Call statistics for instrumented tasks and actor methods, aggregated in process.

Recording three metrics through ``ray.util.metrics`` on every call costs about
7 µs; an instrumented call here costs a few plain integer updates instead. Each
thread counts into its own ``CallStats`` (only that thread writes it, so no lock
and no lost update, threaded actors included). The flusher
(``rayobs.calls._flusher``) sums them shortly after calls end and pushes the
differences to the catalog metrics through the normal handles and backend.

Histogram buckets keep their exact per-bucket sums, so the pushed observations
(each bucket's mean, as many times as the bucket counted) land in the same
buckets and add up to the exact total.
"""

from __future__ import annotations

import bisect
import sys
import threading
import weakref
from dataclasses import dataclass
from typing import Any

from rayobs import _extensions, _outcome
from rayobs._outcome import exception_name
from rayobs.calls._flusher import flusher
from rayobs.calls._options import packed, unpacked
from rayobs.metrics import _catalog, _own

__all__ = ["CallStats", "Site", "SiteSpec", "exception_name", "site_for"]


class CallStats:
    """One thread's counts for one instrumented callable (written by that thread only)."""

    __slots__ = (
        "ended",
        "err_buckets",
        "err_sums",
        "errors",
        "exit_buckets",
        "exit_sums",
        "ok_buckets",
        "ok_sums",
        "started",
    )

    def __init__(self, buckets: int) -> None:
        self.started = 0
        self.ended = 0  # calls that ended, however: with ``started``, it says whether any moved
        self.ok_buckets = [0] * (buckets + 1)
        self.ok_sums = [0.0] * (buckets + 1)
        self.err_buckets = [0] * (buckets + 1)
        self.err_sums = [0.0] * (buckets + 1)
        self.errors: dict[str, int] = {}
        # intended exits (exit_actor(), sys.exit(0)): neither ok nor errors
        self.exit_buckets = [0] * (buckets + 1)
        self.exit_sums = [0.0] * (buckets + 1)


@dataclass(frozen=True)
class SiteSpec:
    """What identifies an instrumented callable: picklable, no per-process state."""

    kind: str
    name: str
    tags: tuple[tuple[str, str], ...]
    metrics: frozenset[str]
    duration: Any  # a rayobs.Histogram with the catalog's call tag keys (or a subset)
    trace: bool = False


class Site:
    """One instrumented callable in this process: its per-thread stats and what was pushed.

    Pickles as its spec; unpickling gives the process's site for that spec (``site_for``).
    """

    __slots__ = (
        "_gauged",
        "_lock",
        "_pushed",
        "_pushed_activity",
        "_retired",
        "_retired_activity",
        "_threads",
        "bounds",
        "local",
        "spec",
    )

    def __init__(self, spec: SiteSpec) -> None:
        self.spec = spec
        self.bounds: tuple[float, ...] = spec.duration.spec.boundaries
        self.local = threading.local()
        # (the thread, its stats); a finished thread's stats are folded into _retired,
        # so a process that runs many short-lived threads does not grow without bound
        self._threads: list[tuple[weakref.ref[threading.Thread], CallStats]] = []
        self._retired = _Totals.empty(len(self.bounds))
        self._retired_activity = 0
        self._lock = threading.Lock()
        self._pushed = _Totals.empty(len(self.bounds))
        self._pushed_activity = 0
        self._gauged = False  # in-flight set once on this backend
        if spec.trace:
            # Also runs when a traced function is unpickled in a worker: nested
            # calls made from there must hand their context on.
            from rayobs.tracing import _ray_patch

            _ray_patch.install()
        if _in_ray_worker():
            # unpickled in a worker, where its calls are about to run
            flusher.expect(self)

    def __reduce__(self) -> tuple[Any, ...]:
        # every pickled instrumented callable carries its site: kept small
        spec = self.spec
        return (
            _site_from,
            (spec.kind, spec.name, spec.tags, *packed(spec.metrics, spec.duration), spec.trace),
        )

    def stats(self) -> CallStats:
        """This thread's stats, created on the thread's first call."""
        try:
            stats: CallStats = self.local.stats
        except AttributeError:
            stats = CallStats(len(self.bounds))
            self.local.stats = stats
            with self._lock:
                self._threads.append((weakref.ref(threading.current_thread()), stats))
            flusher.watch(self)
        return stats

    def record_ok(self, stats: CallStats, seconds: float) -> None:
        stats.ended += 1
        i = bisect.bisect_left(self.bounds, seconds)
        stats.ok_buckets[i] += 1
        stats.ok_sums[i] += seconds

    def record_raised(self, stats: CallStats, seconds: float, exc: BaseException) -> None:
        """A call that raised: an intended exit (``rayobs._outcome``) or an error."""
        exiting = _outcome.is_intended_exit(exc)
        if exiting:
            self.record_exit(stats, seconds)
        else:
            self.record_error(stats, seconds, exc)
        if exiting or isinstance(exc, SystemExit):
            # The process may end as this leaves the call (Ray ends a task's worker
            # that raised SystemExit at once, from C++): push now, not after the delay.
            flusher.push_now()

    def record_exit(self, stats: CallStats, seconds: float) -> None:
        stats.ended += 1
        i = bisect.bisect_left(self.bounds, seconds)
        stats.exit_buckets[i] += 1
        stats.exit_sums[i] += seconds

    def record_error(self, stats: CallStats, seconds: float, exc: BaseException) -> None:
        stats.ended += 1
        i = bisect.bisect_left(self.bounds, seconds)
        stats.err_buckets[i] += 1
        stats.err_sums[i] += seconds
        name = exception_name(type(exc))
        stats.errors[name] = stats.errors.get(name, 0) + 1

    def prepare(self) -> None:
        """Import the backend and create the instruments this site pushes to.

        The first push of a fresh process would otherwise do it (several
        milliseconds, far more on a busy machine): too late when Ray ends the
        worker tens of milliseconds after its last call.
        """
        spec = self.spec
        for metric, handle in (
            ("calls", _own.CALLS),
            ("errors", _own.CALL_ERRORS),
            ("in_flight", _own.CALLS_IN_FLIGHT),
            ("duration", spec.duration),
        ):
            if metric in spec.metrics:
                handle._prepare()

    def totals(self) -> _Totals:
        with self._lock:
            live = []
            for ref, stats in self._threads:
                thread = ref()
                if thread is None or not thread.is_alive():  # it will never write again
                    self._retired.add(stats)
                    self._retired_activity += stats.started + stats.ended
                else:
                    live.append((ref, stats))
            self._threads = live
            total = self._retired.copy()
        for _, stats in live:
            total.add(stats)
        return total

    def forget_pending(self) -> None:
        """Treat everything counted so far as pushed (a forked child must not push it again)."""
        self._pushed_activity = self.activity()
        self._pushed = self.totals()
        self._gauged = False

    def after_fork(self) -> None:
        """In a forked child: a fresh lock, and the parent's counts count as pushed."""
        self._lock = threading.Lock()
        self.forget_pending()

    def rebind(self) -> None:
        """A new backend: the in-flight gauge is set there on the next flush."""
        self._gauged = False

    def activity(self) -> int:
        """Calls started plus calls ended here so far: it grows with every call."""
        with self._lock:
            total = self._retired_activity
            threads = list(self._threads)
        return total + sum(stats.started + stats.ended for _, stats in threads)

    def flush(self) -> None:
        """Push what was counted since the last flush to the catalog metrics.

        A site with no call started or ended since then costs one sum: a
        process pushes all its sites each time, and most of them have not moved.
        """
        activity = self.activity()  # before the totals: a call in between is pushed next time
        gauged = self._gauged or "in_flight" not in self.spec.metrics
        if activity == self._pushed_activity and gauged:
            return
        self._pushed_activity = activity
        now = self.totals()
        before, self._pushed = self._pushed, now
        spec = self.spec
        base = {"kind": spec.kind, "name": spec.name, **_context_tags(), **dict(spec.tags)}

        for outcome, buckets, sums, old_buckets, old_sums in (
            (_outcome.OK, now.ok_buckets, now.ok_sums, before.ok_buckets, before.ok_sums),
            (_outcome.EXIT, now.exit_buckets, now.exit_sums, before.exit_buckets, before.exit_sums),
            (_outcome.ERROR, now.err_buckets, now.err_sums, before.err_buckets, before.err_sums),
        ):
            new = [b - a for a, b in zip(old_buckets, buckets, strict=True)]
            calls = sum(new)
            if not calls:
                continue
            tags = {**base, "outcome": outcome}
            if "calls" in spec.metrics:
                _own.CALLS.inc(calls, tags)
            if "duration" in spec.metrics:
                duration_tags = {k: v for k, v in tags.items() if k in spec.duration.spec.tag_keys}
                for i, count in enumerate(new):
                    if count:
                        mean = (sums[i] - old_sums[i]) / count
                        spec.duration._observe_many(mean, count, duration_tags)
        if "errors" in spec.metrics:
            for exc_name, count in now.errors.items():
                delta = count - before.errors.get(exc_name, 0)
                if delta:
                    _own.CALL_ERRORS.inc(delta, {**base, "exception": exc_name})
        in_flight = now.started - now.finished
        changed = in_flight != before.started - before.finished
        if "in_flight" in spec.metrics and (changed or not self._gauged):
            # Set when it may have changed; the Ray backend re-sets gauges so they stay.
            _own.CALLS_IN_FLIGHT.set(in_flight, base)
            self._gauged = True


_sites: dict[SiteSpec, Site] = {}
_sites_lock = threading.Lock()


def _site_from(
    kind: str,
    name: str,
    tags: tuple[tuple[str, str], ...],
    metrics: frozenset[str] | None,
    duration: Any,
    trace: bool,
) -> Site:
    """A pickled ``Site`` in the process that loads it (``Site.__reduce__``)."""
    metrics, duration = unpacked(metrics, duration)
    return site_for(SiteSpec(kind, name, tags, metrics, duration, trace))


def site_for(spec: SiteSpec) -> Site:
    """This process's one ``Site`` for ``spec``.

    An instrumented callable is unpickled again wherever it travels (a task
    argument, an actor handle): every copy counts into the same site, so a
    process keeps one set of stats per callable, however many copies it sees.
    """
    try:
        return _sites[spec]
    except KeyError:
        with _sites_lock:
            site = _sites.get(spec)
            if site is None:
                site = _sites[spec] = Site(spec)
            return site


@dataclass
class _Totals:
    started: int
    ok_buckets: list[int]
    ok_sums: list[float]
    err_buckets: list[int]
    err_sums: list[float]
    errors: dict[str, int]
    exit_buckets: list[int]
    exit_sums: list[float]

    @property
    def finished(self) -> int:
        return sum(self.ok_buckets) + sum(self.err_buckets) + sum(self.exit_buckets)

    @classmethod
    def empty(cls, buckets: int) -> _Totals:
        n = buckets + 1
        return cls(0, [0] * n, [0.0] * n, [0] * n, [0.0] * n, {}, [0] * n, [0.0] * n)

    def add(self, s: CallStats) -> None:
        """Add one thread's counts."""
        self.started += s.started
        for i in range(len(self.ok_buckets)):
            self.ok_buckets[i] += s.ok_buckets[i]
            self.ok_sums[i] += s.ok_sums[i]
            self.err_buckets[i] += s.err_buckets[i]
            self.err_sums[i] += s.err_sums[i]
            self.exit_buckets[i] += s.exit_buckets[i]
            self.exit_sums[i] += s.exit_sums[i]
        for name, count in list(s.errors.items()):
            self.errors[name] = self.errors.get(name, 0) + count

    def copy(self) -> _Totals:
        return _Totals(
            self.started,
            list(self.ok_buckets),
            list(self.ok_sums),
            list(self.err_buckets),
            list(self.err_sums),
            dict(self.errors),
            list(self.exit_buckets),
            list(self.exit_sums),
        )


def _context_tags() -> dict[str, str]:
    """Tags the process's surroundings give (Serve's app and deployment), for the
    catalog's extra keys a call did not set itself; read at push time, in the
    process where the calls ran."""
    found = _extensions.context_tags()
    if not found:
        return found
    return {k: v for k, v in found.items() if k in _catalog.EXTRA_TAG_KEYS and isinstance(v, str)}


def _in_ray_worker() -> bool:
    """True in a Ray worker process (never imports Ray)."""
    ray = sys.modules.get("ray")
    if ray is None:
        return False
    try:
        return bool(ray._private.worker.global_worker.mode == ray.WORKER_MODE)
    except Exception:
        return False
