"""A Hamilton dataflow with a ``Parallelizable``/``Collect`` block, for the task executor."""

from __future__ import annotations

from hamilton.htypes import Collect, Parallelizable


def item(count: int) -> Parallelizable[int]:
    yield from range(count)


def scaled(item: int) -> int:
    if item == 13:
        raise ValueError("13 is unlucky")
    return item * 10


def summed(scaled: Collect[int]) -> int:
    return sum(scaled)
