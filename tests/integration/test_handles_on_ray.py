"""Metric handles on the real cluster, read back from the real Prometheus.

The seed book's Example 12-1 (a bank actor counting failed withdrawals and
tracking money, tagged with the actor's name) and Example 12-2 (a remote
function counting ZeroDivisionError through a singleton counter), rewritten
with rayobs handles. Prometheus must show exactly the expected totals.
"""

from __future__ import annotations

import pickle
import sys
import threading

import pytest
import ray

import rayobs
from tests.harness import Prometheus, RayCluster

# ---- Example 12-1: an actor with a counter and a gauge tagged by actor name ----

FAILED_WITHDRAWALS = rayobs.Counter(
    "bank_failed_withdrawals", "Number of failed withdrawals.", tag_keys=("actor_name",)
)
MONEY = rayobs.Gauge(
    "bank_money", "How much money we have in total. Goes up and down.", tag_keys=("actor_name",)
)


@ray.remote
class Bank:
    def __init__(self, name: str) -> None:
        self.failed_withdrawals = FAILED_WITHDRAWALS.with_tags(actor_name=name)
        self.money = MONEY.with_tags(actor_name=name)
        self.accounts: dict[str, int] = {}
        self.total = 0

    def deposit(self, account: str, amount: int) -> int:
        self.accounts[account] = self.accounts.get(account, 0) + amount
        self.total += amount
        self.money.set(self.total)
        return self.total

    def withdraw(self, account: str, amount: int) -> int:
        if account not in self.accounts:
            self.failed_withdrawals.inc()
            raise ValueError("No account")
        if self.accounts[account] < amount:
            self.failed_withdrawals.inc()
            raise ValueError("Not enough money")
        self.accounts[account] -= amount
        self.total -= amount
        self.money.set(self.total)
        return self.total


def test_example_12_1_bank_actor(ray_driver: RayCluster, prometheus: Prometheus) -> None:
    north, south = Bank.remote("north"), Bank.remote("south")
    ray.get([north.deposit.remote("alice", 100), south.deposit.remote("bob", 50)])
    refs = (
        [north.withdraw.remote("alice", 30)]
        + [north.withdraw.remote("nobody", 1) for _ in range(3)]
        + [south.withdraw.remote("bob", 500) for _ in range(2)]
        + [south.withdraw.remote("bob", 5)]
    )
    assert [_outcome(ref) for ref in refs] == [
        70,
        "No account",
        "No account",
        "No account",
        "Not enough money",
        "Not enough money",
        45,
    ]

    prometheus.wait_for(
        "sum by (actor_name) (ray_bank_failed_withdrawals_total)",
        {"north": 3.0, "south": 2.0},
        by="actor_name",
    )
    # Set once per change, the gauges stay exported while the actors live.
    prometheus.wait_for(
        "sum by (actor_name) (ray_bank_money)", {"north": 70.0, "south": 45.0}, by="actor_name"
    )
    ray.kill(north)
    ray.kill(south)


def _outcome(ref: ray.ObjectRef) -> object:
    """The result, or the message of the ValueError the actor raised."""
    try:
        return ray.get(ref)
    except ValueError as exc:  # RayTaskError(ValueError) is a ValueError too
        return str(exc).rstrip().splitlines()[-1].removeprefix("ValueError: ")


# ---- Example 12-2: a singleton failure counter used from a remote function ----

FAILURES = rayobs.Counter("remote_fun_failures", "Number of failures (goes up only).")


@ray.remote
def remote_fun(x: float) -> float | None:
    try:
        return 10 / x
    except ZeroDivisionError:
        FAILURES.inc()
        return None


def test_example_12_2_singleton_counter_in_remote_function(
    ray_driver: RayCluster, prometheus: Prometheus
) -> None:
    inputs = [0, 1, 2, 0, 5, 0, 10, 0]
    results = ray.get([remote_fun.remote(x) for x in inputs])
    assert results == [None, 10.0, 5.0, None, 2.0, None, 1.0, None]
    prometheus.wait_for("sum(ray_remote_fun_failures_total)", 4.0)


# ---- one module-level handle from 2 actors and 50 tasks ----

WORK_DONE = rayobs.Counter("shared_work_done", "Units of work done.", tag_keys=("origin",))
WORK_SECONDS = rayobs.Histogram(
    "shared_work_seconds", "Work time.", boundaries=(0.001, 0.01, 0.1, 1.0), unit="seconds"
)


@ray.remote
def work_task(units: int) -> int:
    WORK_DONE.inc(units, tags={"origin": "task"})
    WORK_SECONDS.observe(0.005)
    return units


@ray.remote
def nested_task(units: int) -> int:
    return int(ray.get(work_task.remote(units)))


@ray.remote
class Worker:
    def work(self, units: int) -> int:
        WORK_DONE.inc(units, tags={"origin": "actor"})
        WORK_SECONDS.observe(0.05)
        return units


def test_module_level_handle_from_actors_and_tasks(
    ray_driver: RayCluster, prometheus: Prometheus
) -> None:
    actors = [Worker.remote(), Worker.remote()]
    refs = [work_task.remote(2) for _ in range(40)] + [nested_task.remote(3) for _ in range(10)]
    refs += [actors[i % 2].work.remote(5) for i in range(20)]
    assert sum(ray.get(refs)) == 40 * 2 + 10 * 3 + 20 * 5
    WORK_DONE.inc(7, tags={"origin": "driver"})

    prometheus.wait_for(
        "sum by (origin) (max_over_time(ray_shared_work_done_total[10m]))",
        {"task": 110.0, "actor": 100.0, "driver": 7.0},
        by="origin",
    )
    prometheus.wait_for("sum(max_over_time(ray_shared_work_seconds_count[10m]))", 70.0)
    prometheus.wait_for('sum(max_over_time(ray_shared_work_seconds_bucket{le="0.01"}[10m]))', 50.0)
    for actor in actors:
        ray.kill(actor)


# ---- pickling: default tags travel with the handle; Ray's own objects forget them ----

TAGGED = rayobs.Counter(
    "pickled_handle_calls", "Calls.", tag_keys=("team",), default_tags={"team": "payments"}
)


@ray.remote
def count_with(counter: rayobs.Counter, times: int) -> str:
    for _ in range(times):
        counter.inc()
    return repr(counter.spec.default_tags)


def test_handle_passed_as_argument_keeps_default_tags(
    ray_driver: RayCluster, prometheus: Prometheus
) -> None:
    seen = ray.get(count_with.remote(TAGGED, 4))
    assert seen == "(('team', 'payments'),)"
    prometheus.wait_for(
        "sum by (team) (max_over_time(ray_pickled_handle_calls_total[10m]))",
        {"payments": 4.0},
        by="team",
    )


def test_ray_util_metrics_forgets_default_tags_when_pickled(ray_driver: RayCluster) -> None:
    from ray.util.metrics import Counter

    ray_counter = Counter("ray_forgets_tags", tag_keys=("team",)).set_default_tags(
        {"team": "payments"}
    )
    clone = pickle.loads(pickle.dumps(ray_counter))
    with pytest.raises(ValueError, match="Missing value for tag key"):
        clone.inc()
    ours = pickle.loads(pickle.dumps(TAGGED))
    assert ours.spec.default_tags_dict() == {"team": "payments"}


def test_closure_defined_in_a_test_is_shipped_by_value(
    ray_driver: RayCluster, prometheus: Prometheus
) -> None:
    local = rayobs.Counter("closure_handle_calls", "Calls.", tag_keys=("kind",))

    @ray.remote
    def f(n: int) -> int:
        local.inc(n, tags={"kind": "closure"})
        return n

    assert sum(ray.get([f.remote(i) for i in range(1, 11)])) == 55
    prometheus.wait_for(
        "sum by (kind) (max_over_time(ray_closure_handle_calls_total[10m]))",
        {"closure": 55.0},
        by="kind",
    )


# ---- a gauge moved by many threads of one threaded actor at once ----

QUEUE_DEPTH = rayobs.Gauge("race_queue_depth", "Items queued, moved by 8 threads at once.")


@ray.remote(max_concurrency=8)
class Queue:
    def __init__(self) -> None:
        self.barrier = threading.Barrier(8)

    def churn(self, k: int, rounds: int) -> None:
        sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
        self.barrier.wait(timeout=60)
        for i in range(rounds):
            if (i + k) % 3:  # two incs of 2 for every dec of 1
                QUEUE_DEPTH.inc(2)
            else:
                QUEUE_DEPTH.dec()


def test_gauge_inc_dec_from_a_threaded_actor_lose_no_update(
    ray_driver: RayCluster, prometheus: Prometheus
) -> None:
    queue = Queue.remote()
    rounds = 10_000
    ray.get([queue.churn.remote(k, rounds) for k in range(8)], timeout=120)
    want = sum(2 if (i + k) % 3 else -1 for k in range(8) for i in range(rounds))
    prometheus.wait_for("sum(ray_race_queue_depth)", float(want))
