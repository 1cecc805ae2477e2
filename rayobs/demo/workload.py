"""The demo's instrumented workload: the seed book's bank actor and failing division.

Handles are declared once, here, at module level; tasks and actors use them
directly. Ray pickles the functions by reference, so each worker imports this
module and gets the same declarations.
"""

from __future__ import annotations

import time
from typing import Any

import ray

import rayobs

FAILED_WITHDRAWALS = rayobs.Counter(
    "demo_failed_withdrawals", "Withdrawals refused by a bank actor.", tag_keys=("actor_name",)
)
MONEY = rayobs.Gauge("demo_money", "Money held by a bank actor.", tag_keys=("actor_name",))
DIVISION_FAILURES = rayobs.Counter(
    "demo_division_failures", "Divisions that raised, by exception type.", tag_keys=("error",)
)
STEP_SECONDS = rayobs.Histogram(
    "demo_step_seconds",
    "Time spent in each workload step.",
    boundaries=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0),
    tag_keys=("step",),
    unit="seconds",
)


@ray.remote
class Bank:
    """Example 12-1: counts failed withdrawals and tracks money, tagged by actor name."""

    def __init__(self, name: str) -> None:
        self.failed = FAILED_WITHDRAWALS.with_tags(actor_name=name)
        self.money = MONEY.with_tags(actor_name=name)
        self.accounts: dict[str, int] = {}

    def deposit(self, account: str, amount: int) -> int:
        with STEP_SECONDS.time(tags={"step": "deposit"}):
            self.accounts[account] = self.accounts.get(account, 0) + amount
            self.money.inc(amount)
            return self.accounts[account]

    def withdraw(self, account: str, amount: int) -> int | None:
        with STEP_SECONDS.time(tags={"step": "withdraw"}):
            if self.accounts.get(account, 0) < amount:
                self.failed.inc()
                return None
            self.accounts[account] -= amount
            self.money.dec(amount)
            return self.accounts[account]


@ray.remote
def divide(x: float) -> float | None:
    """Example 12-2: a remote function counting its failures through a module-level counter."""
    with STEP_SECONDS.time(tags={"step": "divide"}):
        time.sleep(0.002)
        try:
            return 10 / x
        except ZeroDivisionError:
            DIVISION_FAILURES.inc(tags={"error": "ZeroDivisionError"})
            return None


Expected = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def run() -> tuple[Expected, list[Any]]:
    """Run the workload on the connected cluster.

    Returns the totals Prometheus should show, and the bank actors: a gauge is
    exported only while the process that set it lives, so the caller keeps
    them until it has read the metrics.
    """
    north, south = Bank.remote("north"), Bank.remote("south")  # type: ignore[attr-defined]
    ray.get([north.deposit.remote("alice", 100), south.deposit.remote("bob", 40)])
    ray.get(
        [north.withdraw.remote("alice", 30)]
        + [north.withdraw.remote("mallory", 5) for _ in range(3)]
        + [south.withdraw.remote("bob", 500) for _ in range(2)]
    )
    results = ray.get([divide.remote(x) for x in [0, 1, 2, 0, 5, 0, 10, 4]])
    failures = sum(r is None for r in results)
    expected: Expected = {
        ("ray_demo_failed_withdrawals_total", (("actor_name", "north"),)): 3.0,
        ("ray_demo_failed_withdrawals_total", (("actor_name", "south"),)): 2.0,
        ("ray_demo_money", (("actor_name", "north"),)): 70.0,
        ("ray_demo_money", (("actor_name", "south"),)): 40.0,
        ("ray_demo_division_failures_total", (("error", "ZeroDivisionError"),)): float(failures),
        ("ray_demo_step_seconds_count", (("step", "divide"),)): 8.0,
        ("ray_demo_step_seconds_count", (("step", "deposit"),)): 2.0,
        ("ray_demo_step_seconds_count", (("step", "withdraw"),)): 6.0,
    }
    return expected, [north, south]
