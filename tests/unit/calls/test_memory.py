"""``peak_memory_increase``: one call's peak RSS increase, measured with memory_profiler."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rayobs.profiling import peak_memory_increase

MIB = 1024 * 1024


def allocate_and_free(n: int) -> int:
    block = bytearray(n)  # zero-filled: the pages are touched and become resident
    return len(block)


def test_measures_a_temporary_allocation() -> None:
    result, grew = peak_memory_increase(allocate_and_free, 200 * MIB, interval=0.005)
    assert result == 200 * MIB
    assert 150 * MIB < grew < 400 * MIB  # freed before returning, still seen at its peak


def test_a_call_that_allocates_nothing() -> None:
    result, grew = peak_memory_increase(sorted, [3, 1, 2])
    assert result == [1, 2, 3]
    assert 0 <= grew < 20 * MIB


def test_exceptions_propagate_and_other_children_survive() -> None:
    # memory_profiler kills every child of the caller when the function raises; rayobs must not.
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with pytest.raises(ZeroDivisionError):
            peak_memory_increase(lambda: 1 / 0)
        with pytest.raises(subprocess.TimeoutExpired):  # still alive half a second later
            bystander.wait(timeout=0.5)
    finally:
        bystander.kill()
        bystander.wait()


def test_keyword_arguments_reach_the_function() -> None:
    result, _ = peak_memory_increase(dict, a=1, b=2)
    assert result == {"a": 1, "b": 2}
