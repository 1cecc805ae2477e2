"""Intended exits on the real cluster: outcome ``exit`` in what Prometheus scrapes.

``ray.actor.exit_actor()`` in a sync and an async actor, ``sys.exit(0)`` in an actor
and in a task: calls with outcome ``exit`` and no ``rayobs_call_errors`` series;
``sys.exit(3)``: an error, ``exception="SystemExit"``. Ray's own record of each
worker is checked too, so the test shows where rayobs and Ray agree and where
they differ (a task's ``sys.exit(0)`` is a crashed worker to Ray).
"""

from __future__ import annotations

import sys
from typing import Any

import ray

import rayobs
from tests.harness import Prometheus, RayCluster

CALLS = 'sum by (outcome) (max_over_time(ray_rayobs_calls_total{{name="{name}"}}[10m]))'
ERRORS = 'sum by (exception) (max_over_time(ray_rayobs_call_errors_total{{name="{name}"}}[10m]))'


@rayobs.instrument(name="exits_sync")
@ray.remote
class Recycler:
    def work(self, x: int) -> int:
        return x

    def stop(self) -> None:
        ray.actor.exit_actor()

    def leave(self, code: int) -> None:
        sys.exit(code)


@rayobs.instrument(name="exits_async")
@ray.remote
class AsyncRecycler:
    async def work(self, x: int) -> int:
        return x

    async def stop(self) -> None:
        ray.actor.exit_actor()  # raises ray.exceptions.AsyncioActorExit here


def leave(code: int) -> None:
    sys.exit(code)


def _died(ref: Any) -> str:
    """The caller's view of a call that ended its worker: the error type and Ray's exit type."""
    try:
        ray.get(ref, timeout=60)
    except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as exc:
        text = str(exc)
        for exit_type in ("INTENDED_USER_EXIT", "SYSTEM_ERROR"):
            if exit_type in text:
                return f"{type(exc).__name__} {exit_type}"
        return type(exc).__name__
    raise AssertionError("the call returned")


def test_exit_actor_in_sync_and_async_actors(
    ray_driver: RayCluster, prometheus: Prometheus
) -> None:
    for cls in (Recycler, AsyncRecycler):
        actor = cls.remote()
        assert ray.get([actor.work.remote(1), actor.work.remote(2)], timeout=60) == [1, 2]
        assert _died(actor.stop.remote()) == "ActorDiedError INTENDED_USER_EXIT"
    for name in ("exits_sync", "exits_async"):
        prometheus.wait_for(CALLS.format(name=f"{name}.work"), {"ok": 2.0}, by="outcome")
        prometheus.wait_for(CALLS.format(name=f"{name}.stop"), {"exit": 1.0}, by="outcome")
    # pushed with the calls above: had an exit counted as an error, it would be here now
    assert prometheus.values(ERRORS.format(name="exits_sync.stop"), "exception") == {}
    assert prometheus.values(ERRORS.format(name="exits_async.stop"), "exception") == {}


def test_sys_exit_in_an_actor_method(ray_driver: RayCluster, prometheus: Prometheus) -> None:
    clean, failing = Recycler.remote(), Recycler.remote()
    assert _died(clean.leave.remote(0)) == "ActorDiedError INTENDED_USER_EXIT"
    assert _died(failing.leave.remote(3)) == "ActorDiedError SYSTEM_ERROR"
    name = "exits_sync.leave"
    prometheus.wait_for(CALLS.format(name=name), {"exit": 1.0, "error": 1.0}, by="outcome")
    prometheus.wait_for(ERRORS.format(name=name), {"SystemExit": 1.0}, by="exception")


def test_sys_exit_in_a_task(ray_driver: RayCluster, prometheus: Prometheus) -> None:
    # No retries: Ray retries a task whose worker exits, and each attempt would count.
    task = ray.remote(max_retries=0)(rayobs.instrument(leave, name="exits_task"))
    # Ray 2.60 takes both as a crashed worker; rayobs records what the function asked for
    assert _died(task.remote(0)) == "WorkerCrashedError"
    assert _died(task.remote(3)) == "WorkerCrashedError"
    prometheus.wait_for(CALLS.format(name="exits_task"), {"exit": 1.0, "error": 1.0}, by="outcome")
    prometheus.wait_for(ERRORS.format(name="exits_task"), {"SystemExit": 1.0}, by="exception")
