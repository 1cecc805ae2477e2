"""The quick start: one instrumented task, called twenty times, some calls failing.

Start Ray with a fixed metrics port first (see docs/quickstart.md), then::

    python docs/examples/quickstart.py

and ask Prometheus for ``sum by (name, outcome) (ray_rayobs_calls_total{app="quickstart"})``.
"""

from __future__ import annotations

import argparse
import time

import ray

import rayobs


@ray.remote
@rayobs.instrument(tags={"app": "quickstart"})
def resize(size: int) -> int:
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    time.sleep(size / 100)
    return size * 2


def main(address: str | None = None, rounds: int = 5) -> dict[str, int]:
    """Call ``resize`` four times a round, one call failing; return the outcomes counted."""
    ray.init(address=address, ignore_reinit_error=True)
    outcomes = {"ok": 0, "error": 0}
    for _ in range(rounds):
        for ref in [resize.remote(size) for size in (0, 5, 10, 20)]:
            try:
                ray.get(ref)
                outcomes["ok"] += 1
            except ValueError:  # recorded as outcome="error", exception="ValueError"
                outcomes["error"] += 1
        time.sleep(0.5)
    print(f"{outcomes['ok']} calls succeeded, {outcomes['error']} failed")
    return outcomes


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--address",
        help="Ray cluster to join (default: the one `ray start` ran here, else a new local one)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds of four calls")
    args = parser.parse_args()
    main(args.address, args.rounds)
