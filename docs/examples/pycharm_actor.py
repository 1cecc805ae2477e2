"""An actor that connects out to a PyCharm debug server, and carries on at once without one.

After Example C-3 of "Scaling Python with Ray". There, the actor calls
``pydevd_pycharm.settrace`` itself and catches ``ConnectionRefusedError``; an
address that drops packets instead of refusing them would hang the actor, and
the book's camelCase arguments raise ``TypeError`` in current pydevd-pycharm.
``rayobs.debug.pycharm`` probes the server with a bounded wait first, and is
opt-in: it does nothing unless ``RAYOBS_PYCHARM=host:port`` is set.

1. In PyCharm, start a "Python Debug Server" run configuration on port 7779.
2. Make that port reachable from the workers (an SSH tunnel, or a local cluster).
3. ``python docs/examples/pycharm_actor.py --address 127.0.0.1:6379 --pycharm 127.0.0.1:7779``

A breakpoint in ``Bloop.dothing`` then stops in PyCharm. With nothing
listening, the actor starts within the probe timeout (1 s) and says why it did
not attach. A connected debugger can run any code in the worker: use it only on
clusters meant for debugging.
"""

from __future__ import annotations

import argparse
import time

import ray

import rayobs.debug


@ray.remote
@rayobs.debug.pycharm
class Bloop:
    def __init__(self) -> None:
        self.calls = 0  # the debugger is attached (or not) before this line runs

    def dothing(self, x: int) -> int:
        self.calls += 1
        return x + 1

    def debugger(self) -> tuple[bool, str, float]:
        """Try to attach again and say what happened (attached, reason, seconds it took)."""
        attach = rayobs.debug.attach_pycharm()
        return attach.attached, attach.reason, attach.seconds


def main(address: str | None = None, pycharm: str = "127.0.0.1:7779") -> int:
    """Start a ``Bloop`` whose worker tries ``pycharm``; print what happened and return 1 + 1."""
    ray.init(
        address=address,
        ignore_reinit_error=True,
        runtime_env={"env_vars": {"RAYOBS_PYCHARM": pycharm}},
    )
    started = time.monotonic()
    bloop = Bloop.remote()
    result = int(ray.get(bloop.dothing.remote(1)))
    print(f"dothing(1) = {result}, {time.monotonic() - started:.1f} s after creating the actor")
    attached, reason, seconds = ray.get(bloop.debugger.remote())
    print(f"debugger attached: {attached} ({reason}; {seconds:.3f} s)")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--address",
        help="Ray cluster to join (default: the one `ray start` ran here, else a new local one)",
    )
    parser.add_argument("--pycharm", default="127.0.0.1:7779", help="host:port of the IDE")
    args = parser.parse_args()
    main(args.address, args.pycharm)
