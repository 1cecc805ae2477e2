"""The demo's instrumented workload: the seed book's bank actor and failing division.

The bank actor and the division task are decorated with ``rayobs.instrument``
(calls, errors by exception type, latency, in-flight), and also use handles
declared once, here, at module level. Ray pickles the functions by reference,
so each worker imports this module and gets the same declarations.
"""

from __future__ import annotations

from typing import Any

import ray

import rayobs

FAILED_WITHDRAWALS = rayobs.Counter(
    "demo_failed_withdrawals", "Withdrawals refused by a bank actor.", tag_keys=("actor_name",)
)
MONEY = rayobs.Gauge("demo_money", "Money held by a bank actor.", tag_keys=("actor_name",))


@ray.remote
@rayobs.instrument(tags={"app": "demo"})
class Bank:
    """Example 12-1: counts failed withdrawals and tracks money, tagged by actor name."""

    def __init__(self, name: str) -> None:
        self.failed = FAILED_WITHDRAWALS.with_tags(actor_name=name)
        self.money = MONEY.with_tags(actor_name=name)
        self.accounts: dict[str, int] = {}

    def deposit(self, account: str, amount: int) -> int:
        self.accounts[account] = self.accounts.get(account, 0) + amount
        self.money.inc(amount)
        return self.accounts[account]

    def withdraw(self, account: str, amount: int) -> int:
        if account not in self.accounts:
            self.failed.inc()
            raise KeyError(f"no account {account!r}")
        if self.accounts[account] < amount:
            self.failed.inc()
            raise ValueError("not enough money")
        self.accounts[account] -= amount
        self.money.dec(amount)
        return self.accounts[account]


@ray.remote
@rayobs.instrument(tags={"app": "demo"})
def divide(x: float) -> float:
    """Example 12-2's failing division: every zero raises, and rayobs counts it."""
    return 10 / x


Expected = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _settle(refs: list[Any]) -> int:
    """Wait for every call; return how many raised."""
    failed = 0
    for ref in refs:
        try:
            ray.get(ref)
        except (ray.exceptions.RayTaskError, KeyError, ValueError, ZeroDivisionError):
            failed += 1
    return failed


def run() -> tuple[Expected, list[Any]]:
    """Run the workload on the connected cluster.

    Returns the totals Prometheus should show, and the bank actors: a gauge is
    exported only while the process that set it lives, so the caller keeps
    them until it has read the metrics.
    """
    north, south = Bank.remote("north"), Bank.remote("south")  # type: ignore[attr-defined]
    ray.get([north.deposit.remote("alice", 100), south.deposit.remote("bob", 40)])
    failed = _settle(
        [north.withdraw.remote("alice", 30)]
        + [north.withdraw.remote("mallory", 5) for _ in range(3)]
        + [south.withdraw.remote("bob", 500) for _ in range(2)]
    )
    zeros = _settle([divide.remote(x) for x in [0, 1, 2, 0, 5, 0, 10, 4]])
    assert (failed, zeros) == (5, 3), (failed, zeros)

    def calls(name: str, outcome: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        tags = (("app", "demo"), ("kind", "task" if name == "divide" else "actor"))
        return ("ray_rayobs_calls_total", (*tags, ("name", name), ("outcome", outcome)))

    def errors(name: str, exception: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        tags = (("app", "demo"), ("exception", exception))
        kind = "task" if name == "divide" else "actor"
        return ("ray_rayobs_call_errors_total", (*tags, ("kind", kind), ("name", name)))

    expected: Expected = {
        ("ray_demo_failed_withdrawals_total", (("actor_name", "north"),)): 3.0,
        ("ray_demo_failed_withdrawals_total", (("actor_name", "south"),)): 2.0,
        ("ray_demo_money", (("actor_name", "north"),)): 70.0,
        ("ray_demo_money", (("actor_name", "south"),)): 40.0,
        calls("Bank.__init__", "ok"): 2.0,
        calls("Bank.deposit", "ok"): 2.0,
        calls("Bank.withdraw", "ok"): 1.0,
        calls("Bank.withdraw", "error"): 5.0,
        calls("divide", "ok"): 5.0,
        calls("divide", "error"): 3.0,
        errors("Bank.withdraw", "KeyError"): 3.0,
        errors("Bank.withdraw", "ValueError"): 2.0,
        errors("divide", "ZeroDivisionError"): 3.0,
    }
    return expected, [north, south]
