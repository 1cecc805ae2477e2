"""The peak memory increase of one call, measured with memory_profiler.

memory_profiler samples this process's resident memory from a helper process
every ``interval`` seconds while the call runs, so the cost is one process
start per call (milliseconds) and spikes shorter than ``interval`` can be
missed. Memory the call frees but the allocator keeps still counts. Meant for
investigating a suspect task, not for every call of a hot path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

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
