"""A Hamilton dataflow for the tests: plain functions, nothing about rayobs or Ray.

``mean`` divides by the number of values, so ``n=0`` makes it raise.
"""

from __future__ import annotations


def values(n: int) -> list[int]:
    return list(range(n))


def squares(values: list[int]) -> list[int]:
    return [v * v for v in values]


def total(squares: list[int]) -> int:
    return sum(squares)


def mean(total: int, values: list[int]) -> float:
    return total / len(values)


def report(mean: float, total: int) -> dict[str, float]:
    return {"mean": mean, "total": float(total)}
