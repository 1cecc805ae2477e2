"""``rayobs.instrument`` and ``rayobs.remote``: calls, errors, latency and in-flight
metrics for Ray tasks and actors, with nothing else changed.

The wrapper keeps what Ray looks at: the signature and docstring
(``functools.wraps``), ``async def`` stays a coroutine function, generator
functions stay generators (the duration covers the whole iteration), and
``@ray.method`` options set as function attributes are kept. Return values and
exceptions pass through untouched, and the wrapper's own frame is removed from
the traceback, so a failing task's traceback reads exactly as it would without
rayobs. The wrapper closes over a picklable ``Site``, never a backend object.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import functools
import inspect
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from rayobs import _callshape, _config
from rayobs._errors import MetricDefinitionError
from rayobs.calls import _flusher
from rayobs.calls._stats import Site, SiteSpec, site_for
from rayobs.metrics import _catalog, _own
from rayobs.metrics._handles import Histogram

T = TypeVar("T")

ALL_METRICS = frozenset(_catalog.CALL_METRICS)
# The dunders a class gets by default: construction, and calling an instance
# (what Ray Data does with a callable class, once per batch or row).
DEFAULT_DUNDERS = frozenset({"__init__", "__call__"})
_MARK = "__rayobs_site__"


@overload
def instrument(target: T) -> T: ...
@overload
def instrument(
    target: None = None,
    *,
    name: str | None = None,
    tags: Mapping[str, str] | None = None,
    metrics: Iterable[str] | None = None,
    duration_histogram: Any = None,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    check_serializable: bool = False,
    trace: bool | None = None,
    memory: bool = False,
) -> Callable[[T], T]: ...


def instrument(
    target: Any = None,
    *,
    name: str | None = None,
    tags: Mapping[str, str] | None = None,
    metrics: Iterable[str] | None = None,
    duration_histogram: Any = None,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    check_serializable: bool = False,
    trace: bool | None = None,
    memory: bool = False,
) -> Any:
    """Measure every call of a function, an actor class's methods, or one actor method.

    Works on a plain function or class (put ``@ray.remote`` above or below), on a
    ``ray.remote`` function or actor class, and on a single method in a class body.

    - ``name``: display name (default: the function's name, or ``Class.method``; on a
      class it replaces the class part: ``name="bank"`` gives ``bank.withdraw``).
    - ``tags``: static tags, keys from ``rayobs.metrics._catalog.EXTRA_TAG_KEYS``
      (``app``, ``component``, ``team``).
    - ``metrics``: any of ``calls``, ``errors``, ``duration``, ``in_flight`` (default all).
    - ``duration_histogram``: your own ``rayobs.Histogram`` (e.g. other buckets) to
      record durations into, instead of ``rayobs_call_duration_seconds``.
    - ``include``/``exclude``: for classes, which methods (default: public ones,
      ``__init__`` and ``__call__``; other dunders and ``_private`` ones stay out).
    - ``check_serializable``: inspect the function now and raise
      ``rayobs.SerializationError`` naming every unpicklable path, instead of Ray's
      pickling error at the first ``.remote()``.
    - ``trace``: a span per call, parented to the caller's span across ``.remote()``
      (see ``rayobs.otel``); ``None`` follows ``RAYOBS_TRACE``.
    - ``memory``: also record each call's peak memory increase in
      ``rayobs_call_memory_increase_bytes`` (sync functions; memory_profiler samples
      during the call, which costs about 10 ms per call: for heavy tasks only).

    >>> import ray, rayobs
    >>> @ray.remote
    ... @rayobs.instrument
    ... def square(x):
    ...     return x * x
    """
    options = _Options.build(
        name, tags, metrics, duration_histogram, include, exclude, check_serializable, trace
    )
    if memory:
        options = dataclasses.replace(options, memory=True)

    def apply(obj: Any) -> Any:
        return _apply(obj, options)

    return apply if target is None else apply(target)


def remote(*args: Any, **kwargs: Any) -> Any:
    """A drop-in for ``ray.remote`` that also instruments (same arguments).

    >>> import rayobs
    >>> @rayobs.remote(num_cpus=1, max_retries=2)
    ... def fetch(url):
    ...     ...
    """
    import ray

    if len(args) == 1 and not kwargs and callable(args[0]):
        return ray.remote(instrument(args[0]))
    if args:
        raise TypeError("rayobs.remote takes the same arguments as ray.remote: keywords only")
    return lambda target: ray.remote(**kwargs)(instrument(target))


@dataclass(frozen=True)
class _Options:
    name: str | None
    tags: tuple[tuple[str, str], ...]
    metrics: frozenset[str]
    duration: Any
    include: frozenset[str] | None
    exclude: frozenset[str]
    check_serializable: bool
    trace: bool
    memory: bool = False

    @classmethod
    def build(
        cls,
        name: str | None,
        tags: Mapping[str, str] | None,
        metrics: Iterable[str] | None,
        duration_histogram: Any,
        include: Iterable[str] | None,
        exclude: Iterable[str] | None,
        check_serializable: bool,
        trace: bool | None,
    ) -> _Options:
        """Validate ``instrument``'s options: misuse raises at decoration time."""
        if name is not None and (not isinstance(name, str) or not name):
            raise MetricDefinitionError(
                f"instrument(name=...) must be a non-empty string: {name!r}"
            )
        tag_map = dict(tags or {})
        unknown = sorted(set(tag_map) - set(_catalog.EXTRA_TAG_KEYS))
        if unknown:
            raise MetricDefinitionError(
                f"instrument(tags=...): unknown keys {unknown}; use {_catalog.EXTRA_TAG_KEYS} "
                "(a metric family has one fixed set of tag keys), or record your own "
                "rayobs handles for other tags"
            )
        for key, value in tag_map.items():
            if not isinstance(value, str):
                raise MetricDefinitionError(
                    f"instrument(tags=...): {key}={value!r} must be a string"
                )
        chosen = ALL_METRICS if metrics is None else frozenset(metrics)
        if isinstance(metrics, str) or not chosen <= ALL_METRICS:
            raise MetricDefinitionError(
                f"instrument(metrics=...): choose from {sorted(ALL_METRICS)}, got {metrics!r}"
            )
        if duration_histogram is not None:
            _check_duration_histogram(duration_histogram)
        return cls(
            name=name,
            tags=tuple(sorted(tag_map.items())),
            metrics=chosen,
            duration=_own.CALL_DURATION if duration_histogram is None else duration_histogram,
            include=None if include is None else frozenset(include),
            exclude=frozenset(exclude or ()),
            check_serializable=check_serializable,
            trace=_config.get_bool(_config.TRACE) if trace is None else bool(trace),
        )


def _check_duration_histogram(histogram: Any) -> None:

    if not isinstance(histogram, Histogram):
        raise MetricDefinitionError("duration_histogram must be a rayobs.Histogram")
    fillable = (*_catalog.CALL_TAG_KEYS, "outcome")
    extra = set(histogram.spec.tag_keys) - set(fillable)
    if extra:
        raise MetricDefinitionError(
            f"duration_histogram {histogram.name!r} has tag keys {sorted(extra)} the wrapper "
            f"cannot fill; use a subset of {fillable}"
        )


def _apply(obj: Any, options: _Options) -> Any:
    if hasattr(obj, "__ray_metadata__"):  # an actor class from @ray.remote
        metadata = obj.__ray_metadata__
        original = metadata.modified_class.__ray_actor_class__
        _instrument_class(original, options)
        # Ray caches method metadata (signatures included) per class: rebuild it. A
        # private cache: if Ray moves it, only the traced-method marks are affected.
        with contextlib.suppress(Exception):
            from ray.actor import _ActorClassMethodMetadata

            descriptor = metadata.actor_creation_function_descriptor
            _ActorClassMethodMetadata._cache.pop(descriptor, None)
        return _rebuild(obj, original)
    if hasattr(obj, "_function") and hasattr(obj, "_default_options"):  # a remote function
        return _rebuild(obj, _wrap(obj._function, "task", options))
    if inspect.isclass(obj):
        return _instrument_class(obj, options)
    if isinstance(obj, (staticmethod, classmethod)):
        return type(obj)(_wrap(obj.__func__, _kind_of(obj.__func__), options))
    if callable(obj):
        return _wrap(obj, _kind_of(obj), options)
    raise TypeError(f"rayobs.instrument cannot instrument {type(obj).__name__} objects")


def _rebuild(ray_object: Any, target: Any) -> Any:
    """The same ``ray.remote`` object, built again around ``target`` with its options."""
    import ray

    options = dict(ray_object._default_options)
    return ray.remote(**options)(target) if options else ray.remote(target)


def _kind_of(fn: Callable[..., Any]) -> str:
    """A function defined in a class body is an actor method; anything else a task."""
    qualname = getattr(fn, "__qualname__", "")
    return "actor" if "." in qualname.rsplit("<locals>.", 1)[-1] else "task"


def _display_name(fn: Callable[..., Any]) -> str:
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", repr(fn))
    return str(qualname).rsplit("<locals>.", 1)[-1]


def _instrument_class(cls: type, options: _Options) -> type:
    """Wrap ``__init__``, ``__call__`` and the public methods of ``cls`` in place
    (inherited ones too)."""
    for attr in _methods(cls, options):
        raw = inspect.getattr_static(cls, attr)
        display = f"{options.name or cls.__name__}.{attr}"
        if isinstance(raw, (staticmethod, classmethod)):
            wrapped: Any = type(raw)(_wrap(raw.__func__, "actor", options, display))
        else:
            wrapped = _wrap(raw, "actor", options, display)
        setattr(cls, attr, wrapped)
    return cls


def _methods(cls: type, options: _Options) -> list[str]:
    names: list[str] = []
    for klass in cls.__mro__[:-1]:  # not object
        for attr, raw in vars(klass).items():
            if attr in names:
                continue
            if options.include is not None:
                if attr not in options.include:
                    continue
            elif attr.startswith("_") and attr not in DEFAULT_DUNDERS:
                continue
            if attr in options.exclude:
                continue
            func = raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else raw
            if inspect.isfunction(func):
                names.append(attr)
    return names


def _wrap(
    fn: Callable[..., Any], kind: str, options: _Options, display: str | None = None
) -> Callable[..., Any]:
    if hasattr(fn, _MARK):  # instrumenting twice measures once
        return fn
    if options.check_serializable:
        from rayobs.inspect._api import check_at_decoration

        check_at_decoration(fn, _display_name(fn))
    spec = SiteSpec(
        kind=kind,
        name=display or options.name or _display_name(fn),
        tags=options.tags,
        metrics=options.metrics,
        duration=options.duration,
        trace=options.trace,
    )
    site = site_for(spec)
    user_fn = fn
    if options.memory:
        from rayobs.calls._memory import with_memory

        fn = with_memory(fn, spec)
    wrapper = _callshape.wrap(fn, *_hooks(site)) if not _callshape.is_plain(fn) else _sync(fn, site)
    if options.trace:
        from rayobs.tracing import _ray_patch
        from rayobs.tracing._traced import traced

        wrapper = traced(wrapper, user_fn, kind, spec.name)
        _ray_patch.mark(wrapper, user_fn)
    setattr(wrapper, _MARK, site)
    return wrapper


def _hooks(site: Site) -> tuple[_callshape.Start, _callshape.Finish]:
    """Start/finish hooks for async and generator callables (``_callshape.wrap``)."""
    perf = time.perf_counter

    flusher = _flusher.flusher

    def start(kwargs: dict[str, Any]) -> tuple[Any, float]:
        stats = site.stats()
        stats.started += 1
        if not flusher.armed:
            flusher.poke()
        return stats, perf()

    def finish(token: tuple[Any, float], exc: BaseException | None) -> None:
        stats, began = token
        end = perf()
        if exc is None:
            site.record_ok(stats, end - began)
        else:
            site.record_raised(stats, end - began, exc)
        flusher.last = end
        if not flusher.armed:
            flusher.poke()

    return start, finish


def _sync(fn: Callable[..., Any], site: Site) -> Callable[..., Any]:
    """The hot path, written out: no hook calls, a few integer updates
    (``Site.record_ok`` inlined)."""
    perf = time.perf_counter
    bounds = site.bounds
    position = bisect.bisect_left
    flusher = _flusher.flusher

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            stats = site.local.stats
        except AttributeError:
            stats = site.stats()
        stats.started += 1
        if not flusher.armed:  # the in-flight change reaches the backend promptly
            flusher.poke()
        start = perf()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            end = perf()
            site.record_raised(stats, end - start, exc)
            flusher.last = end
            if not flusher.armed:
                flusher.poke()
            _callshape.drop_own_frame(exc, sys._getframe())
            raise
        end = perf()
        seconds = end - start
        i = position(bounds, seconds)
        stats.ok_buckets[i] += 1
        stats.ok_sums[i] += seconds
        # pushed before Ray can end this process: see _flusher._Flusher
        flusher.last = end
        if not flusher.armed:
            flusher.poke()
        return result

    return wrapper
