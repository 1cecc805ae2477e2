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
from typing import Any, TypeVar, overload

from rayobs import _callshape, _extensions
from rayobs.calls import _flusher
from rayobs.calls._options import ALL_METRICS, Options
from rayobs.calls._stats import Site, SiteSpec, site_for

__all__ = ["ALL_METRICS", "instrument", "instrument_auto", "is_instrumented", "remote"]

T = TypeVar("T")

# The dunders a class gets by default: construction, and calling an instance
# (what Ray Data does with a callable class, once per batch or row).
DEFAULT_DUNDERS = frozenset({"__init__", "__call__"})
_MARK = "__rayobs_site__"
# On a wrapper made by auto mode (rayobs.auto): the function it wraps. An explicit
# rayobs.instrument replaces such a wrapper instead of keeping it.
_AUTO = "__rayobs_auto__"
# In a class's own __dict__ once its methods were wrapped: "explicit" or "auto".
_CLASS_MARK = "__rayobs_instrumented__"


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
    ``ray.remote`` function or actor class, on a single method in a class body, and on a
    Ray Serve deployment (above or below ``@serve.deployment``; see ``docs/serve.md``).

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
    options = Options.build(
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


def instrument_auto(target: T) -> T:
    """Instrument ``target`` (a function or class) for auto mode, unless already done.

    Default options; an explicit ``rayobs.instrument`` applied later replaces
    what this did, and one applied earlier is kept as it is.
    """
    if inspect.isclass(target):
        if vars(target).get(_CLASS_MARK):
            return target
    elif not inspect.isfunction(target) or hasattr(target, _MARK):
        return target
    options = dataclasses.replace(
        Options.build(None, None, None, None, None, None, False, None), auto=True
    )
    return _apply(target, options)  # type: ignore[no-any-return]


def is_instrumented(target: Any) -> bool:
    """True for a function wrapped by ``rayobs.instrument`` or a class it instrumented."""
    if inspect.isclass(target):
        return bool(vars(target).get(_CLASS_MARK))
    return hasattr(target, _MARK)


def _apply(obj: Any, options: Options) -> Any:
    adapted = _extensions.adapt(obj, options)  # a Serve deployment, an ingress class
    if adapted is not _extensions.NOT_MINE:
        return adapted
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


def _instrument_class(cls: type, options: Options) -> type:
    """Wrap ``__init__``, ``__call__`` and the public methods of ``cls`` in place
    (inherited ones too)."""
    if not options.auto:
        _drop_auto_wrappers(cls)
    for attr in _methods(cls, options):
        raw = inspect.getattr_static(cls, attr)
        display = f"{options.name or cls.__name__}.{attr}"
        if isinstance(raw, (staticmethod, classmethod)):
            wrapped: Any = type(raw)(_wrap(raw.__func__, "actor", options, display))
        else:
            wrapped = _wrap(raw, "actor", options, display)
        setattr(cls, attr, wrapped)
    setattr(cls, _CLASS_MARK, "auto" if options.auto else "explicit")
    return cls


def _drop_auto_wrappers(cls: type) -> None:
    """Put back the methods auto mode wrapped: an explicit ``instrument`` decides alone."""
    for attr, raw in list(vars(cls).items()):
        binder = type(raw) if isinstance(raw, (staticmethod, classmethod)) else None
        original = getattr(raw.__func__ if binder else raw, _AUTO, None)
        if original is not None:
            setattr(cls, attr, binder(original) if binder else original)


def _methods(cls: type, options: Options) -> list[str]:
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
    fn: Callable[..., Any], kind: str, options: Options, display: str | None = None
) -> Callable[..., Any]:
    if hasattr(fn, _MARK):  # instrumenting twice measures once
        original = getattr(fn, _AUTO, None)
        if original is None or options.auto:
            return fn
        fn = original  # auto mode's wrapper: the explicit options win
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
    if options.auto:
        setattr(wrapper, _AUTO, user_fn)
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
        stats.ended += 1
        i = position(bounds, seconds)
        stats.ok_buckets[i] += 1
        stats.ok_sums[i] += seconds
        # pushed before Ray can end this process: see _flusher._Flusher
        flusher.last = end
        if not flusher.armed:
            flusher.poke()
        return result

    return wrapper
