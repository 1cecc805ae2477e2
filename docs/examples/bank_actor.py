"""A bank actor that counts refused withdrawals and tracks the money it holds.

After Example 12-1 of "Scaling Python with Ray". With ``ray.util.metrics`` the
actor has to build its metric objects inside ``__init__``, because they cannot
be pickled. rayobs handles are defined once, at module level, travel with the
actor class, and ``with_tags`` fixes each actor's name on its own view.

Run it against a cluster whose metrics Prometheus scrapes::

    ray start --head --metrics-export-port=8080
    python docs/examples/bank_actor.py --address 127.0.0.1:6379

Prometheus then has ``ray_example_bank_failed_withdrawals_total`` and
``ray_example_bank_money``, both with an ``actor_name`` label.
"""

from __future__ import annotations

import argparse
import time

import ray
import ray.exceptions

import rayobs

FAILED_WITHDRAWALS = rayobs.Counter(
    "example_bank_failed_withdrawals",
    "Withdrawals the bank refused.",
    tag_keys=("actor_name",),
)
MONEY = rayobs.Gauge(
    "example_bank_money",
    "Money the bank holds; goes up and down.",
    tag_keys=("actor_name",),
)


@ray.remote
class Bank:
    """One branch of the bank: accounts and their balances."""

    def __init__(self, name: str) -> None:
        self.failed = FAILED_WITHDRAWALS.with_tags(actor_name=name)
        self.money = MONEY.with_tags(actor_name=name)
        self.balances: dict[str, int] = {}

    def deposit(self, account: str, amount: int) -> int:
        self.balances[account] = self.balances.get(account, 0) + amount
        self.money.inc(amount)
        return self.balances[account]

    def withdraw(self, account: str, amount: int) -> int:
        balance = self.balances.get(account)
        if balance is None or balance < amount:
            self.failed.inc()
            why = "no such account" if balance is None else f"only {balance} available"
            raise ValueError(f"cannot withdraw {amount} from {account}: {why}")
        self.balances[account] = balance - amount
        self.money.dec(amount)
        return balance - amount


# (branch, account, amount): two of these are refused by north, one by south.
WITHDRAWALS = [
    ("north", "alice", 30),
    ("north", "carol", 5),
    ("north", "alice", 500),
    ("south", "bob", 20),
    ("south", "bob", 40),
]


def main(address: str | None = None) -> dict[str, ray.actor.ActorHandle]:
    """Open two branches, move some money, print each outcome; return the branches.

    The gauges are exported only while their actor lives: keep the handles as
    long as Prometheus should see the money.
    """
    ray.init(address=address, ignore_reinit_error=True)
    banks = {name: Bank.remote(name) for name in ("north", "south")}
    ray.get([banks["north"].deposit.remote("alice", 100), banks["south"].deposit.remote("bob", 50)])
    for branch, account, amount in WITHDRAWALS:
        try:
            left = ray.get(banks[branch].withdraw.remote(account, amount))
            print(f"{branch}: {account} withdrew {amount}, {left} left")
        except ray.exceptions.RayTaskError as exc:
            print(f"{branch}: refused: {exc.cause}")
    return banks


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--address",
        help="Ray cluster to join (default: the one `ray start` ran here, else a new local one)",
    )
    parser.add_argument(
        "--keep",
        type=float,
        default=15.0,
        help="seconds to keep the actors alive, so Ray exports their last values "
        "(Ray pushes every 10 s by default) and Prometheus scrapes them",
    )
    args = parser.parse_args()
    branches = main(args.address)
    time.sleep(args.keep)
