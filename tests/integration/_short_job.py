"""A short Ray job, run as its own driver process by tests/integration/test_job_end_on_ray.py.

Every instrumented call also records a plain ``ray.util.metrics`` counter
(``job_end_reference``) with the same name and outcome: the reference for what
Ray itself keeps when the job ends. ``SCENARIO`` names the series and says how
the driver ends:

- ``return``: the script just returns (Ray's own atexit shutdown);
- ``shutdown``: ``ray.shutdown()`` right after the last ``ray.get``;
- ``sigterm``: prints ``DONE`` and waits to be sent SIGTERM;
- ``actors``: a threaded and an async actor only, then returns;
- ``submit``: run by ``ray job submit``; returns.

Workers get ``RAYOBS_FLUSH_INTERVAL=300``: nothing may depend on a periodic push
coming before the job ends.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

import ray
from ray.util.metrics import Counter

import rayobs

SCENARIO = os.environ["SCENARIO"]
_reference: Counter | None = None


def reference(name: str, outcome: str) -> None:
    global _reference
    if _reference is None:
        _reference = Counter("job_end_reference", "calls, by ray.util.metrics", ("name", "outcome"))
    _reference.inc(1, {"name": name, "outcome": outcome})


def work(name: str, i: int) -> int:
    if i % 5 == 4:
        reference(name, "error")
        raise ValueError(f"call {i} fails")
    reference(name, "ok")
    return i


def _task(i: int) -> int:
    return work(f"{SCENARIO}_task", i)


task = rayobs.instrument(ray.remote(max_retries=0)(_task), name=f"{SCENARIO}_task")


@rayobs.instrument(name=f"{SCENARIO}_Actor")
@ray.remote
class Actor:
    def call(self, i: int) -> int:
        return work(f"{SCENARIO}_Actor.call", i)


@rayobs.instrument(name=f"{SCENARIO}_Threaded")
@ray.remote(max_concurrency=4)
class Threaded:
    def call(self, i: int) -> int:
        time.sleep(0.01)
        return work(f"{SCENARIO}_Threaded.call", i)


@rayobs.instrument(name=f"{SCENARIO}_Async")
@ray.remote
class Async:
    async def call(self, i: int) -> int:
        await asyncio.sleep(0.01)
        return work(f"{SCENARIO}_Async.call", i)


def settle(refs: list[Any]) -> int:
    ok = 0
    for ref in refs:
        try:
            ray.get(ref, timeout=60)
            ok += 1
        except ray.exceptions.RayTaskError:
            pass
    return ok


def main() -> None:
    env = {"RAYOBS_FLUSH_INTERVAL": "300"}
    if SCENARIO == "submit":
        ray.init(runtime_env={"env_vars": env})
    else:
        ray.init(address=os.environ["ADDRESS"], runtime_env={"env_vars": env})
    ok = 0
    if SCENARIO != "actors":
        ok += settle([task.remote(i) for i in range(20)])
        actor = Actor.remote()
        ok += settle([actor.call.remote(i) for i in range(5)])
    else:
        threaded, async_actor = Threaded.remote(), Async.remote()
        ok += settle([threaded.call.remote(i) for i in range(20)])
        ok += settle([async_actor.call.remote(i) for i in range(20)])
    print(f"DONE ok={ok}", flush=True)
    if SCENARIO == "shutdown":
        ray.shutdown()
    elif SCENARIO == "sigterm":
        time.sleep(120)  # the test kills this driver; never reached otherwise
        sys.exit(1)


if __name__ == "__main__":
    main()
