"""Per-call peak memory: ``rayobs.instrument(memory=True)``.

The peak memory increase of one call is measured with memory_profiler, which
samples this process's resident memory from a helper process every ``interval``
seconds while the call runs, so the cost is one process start per call
(milliseconds) and spikes shorter than ``interval`` can be missed. Memory the call
frees but the allocator keeps still counts. Meant for investigating a suspect
task, not for every call of a hot path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from rayobs import _callshape
from rayobs._errors import MetricDefinitionError
from rayobs.calls._stats import SiteSpec
from rayobs.metrics import _own

T = TypeVar("T")

_MIB = 1024 * 1024


def peak_memory_increase(
    fn: Callable[..., T], /, *args: Any, interval: float = 0.01, **kwargs: Any
) -> tuple[T, int]:
    """Call ``fn(*args, **kwargs)``; return its result and the peak RSS increase in bytes.

    The increase is the highest resident set size seen during the call minus
    the size just before it (0 if memory never rose). Exceptions from ``fn``
    propagate unchanged.

    >>> from rayobs.profiling import peak_memory_increase
    >>> data, grew = peak_memory_increase(lambda n: bytearray(n), 64 * 1024 * 1024)
    >>> len(data), grew > 32 * 1024 * 1024
    (67108864, True)
    """
    from memory_profiler import memory_usage

    outcome: list[Any] = []

    def call() -> None:
        # memory_profiler SIGKILLs every child process of the caller when the function
        # raises (meant for its own sampler): never let it see the exception.
        try:
            outcome.append((True, fn(*args, **kwargs)))
        except BaseException as exc:
            outcome.append((False, exc))

    baseline = float(memory_usage(-1, interval=0, max_usage=True))
    # max_iterations=1: memory_profiler otherwise runs a short function again and again
    # until it has collected enough samples.
    peak = float(memory_usage((call, (), {}), interval=interval, max_usage=True, max_iterations=1))
    ok, value = outcome[0]
    if not ok:
        raise value
    return value, max(0, round((peak - baseline) * _MIB))


def with_memory(fn: Callable[..., Any], spec: SiteSpec) -> Callable[..., Any]:
    """Record the call's peak memory increase; results and exceptions unchanged."""
    if not _callshape.is_plain(fn):
        raise MetricDefinitionError(
            f"instrument(memory=True) measures plain functions; {spec.name!r} is async or a "
            "generator"
        )
    tags = {"kind": spec.kind, "name": spec.name, **dict(spec.tags)}
    code = getattr(fn, "__code__", None)

    @functools.wraps(fn)
    def measured(*args: Any, **kwargs: Any) -> Any:
        try:
            result, grew = peak_memory_increase(fn, *args, **kwargs)
        except BaseException as exc:
            # the sampler's frames sit between the caller and the function: show
            # the function's frames only
            tb = exc.__traceback__
            while tb is not None and tb.tb_frame.f_code is not code:
                tb = tb.tb_next
            if tb is not None:
                exc.__traceback__ = tb
            raise
        _own.CALL_MEMORY.observe(grew, tags)
        return result

    return measured
