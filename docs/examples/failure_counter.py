"""A failure counter used from a remote function, without a hand-written singleton.

After Example 12-2 of "Scaling Python with Ray". A ``ray.util.metrics.Counter``
cannot be pickled, so the book hides it behind a class whose ``__new__`` builds
it once per worker process, on first use. A rayobs handle *is* that lazy
singleton: it pickles as its definition and binds to the worker's metrics
backend the first time it records.

Run it against a cluster whose metrics Prometheus scrapes::

    python docs/examples/failure_counter.py --address 127.0.0.1:6379

Prometheus then has ``ray_example_divide_failures_total{error="ZeroDivisionError"}``.
"""

from __future__ import annotations

import argparse

import ray

import rayobs

FAILURES = rayobs.Counter(
    "example_divide_failures", "Divisions that failed (goes up only).", tag_keys=("error",)
)


@ray.remote
def divide(x: float) -> float | None:
    """Ten divided by ``x``, or ``None`` (counted) when that fails."""
    try:
        return 10 / x
    except ZeroDivisionError as exc:
        FAILURES.inc(tags={"error": type(exc).__name__})
        return None


INPUTS = [0, 1, 2, 0, 5, 0, 10, 4]


def main(address: str | None = None) -> list[float | None]:
    """Divide ten by each input on the cluster; print and return the results."""
    ray.init(address=address, ignore_reinit_error=True)
    results = ray.get([divide.remote(x) for x in INPUTS])
    for x, result in zip(INPUTS, results, strict=True):
        print(f"10 / {x} = {result}")
    failed = sum(result is None for result in results)
    print(f"{failed} divisions failed: ray_example_divide_failures_total goes up by {failed}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--address",
        help="Ray cluster to join (default: the one `ray start` ran here, else a new local one)",
    )
    args = parser.parse_args()
    main(args.address)
