"""A function that captures a ``multiprocessing.Pool``, and what the inspector says about it.

After Example C-1 of "Scaling Python with Ray". A function defined in a script
is pickled by value when Ray ships it, globals included, and a pool cannot be
pickled: Ray refuses the function at its first ``.remote()``.
``rayobs.inspect_serializability`` names the culprit by its access path, with
the pickling error and a fix; the fixed function lets Ray do the fan-out.

Run it as a script (so its functions pickle by value, as yours do)::

    python docs/examples/pool_capture.py --address 127.0.0.1:6379

The same report from the command line::

    rayobs inspect docs/examples/pool_capture.py:sum_of_squares
"""

from __future__ import annotations

import argparse
from multiprocessing import Pool

import ray

import rayobs


def square(x: int) -> int:
    return x * x


pool = Pool(2)  # its processes fork here: what they run must be defined above


def sum_of_squares(n: int) -> int:
    """Captures the module's ``pool``: works locally, cannot be shipped to a worker."""
    return sum(pool.map(square, range(n)))


@ray.remote
def square_task(x: int) -> int:
    return x * x


def sum_of_squares_on_ray(n: int) -> int:
    """The fix: no pool to capture; Ray runs the squares as tasks."""
    return sum(ray.get([square_task.remote(x) for x in range(n)]))


def describe(report: rayobs.SerializabilityReport) -> None:
    print(f"{report.root}: serializable={report.serializable}")
    for failure in report.failures:
        print(f"  path:  {failure.path}")
        print(f"  type:  {failure.type}")
        print(f"  error: {failure.error}")
        print(f"  hint:  {failure.hint}")


def main(address: str | None = None) -> int:
    """Show Ray refusing the pool, the inspector's report, and the fix running; return its sum."""
    ray.init(address=address, ignore_reinit_error=True)
    print(f"locally: sum_of_squares(4) = {sum_of_squares(4)}")
    try:
        ray.get(ray.remote(sum_of_squares).remote(4))
    except Exception as exc:  # Ray's pickling error names the function, not the pool
        print(f"on Ray: {type(exc).__name__} at .remote()")
    describe(rayobs.inspect_serializability(sum_of_squares))
    describe(rayobs.inspect_serializability(sum_of_squares_on_ray))
    total = ray.get(ray.remote(sum_of_squares_on_ray).remote(4))
    print(f"on Ray, fixed: sum_of_squares_on_ray(4) = {total}")
    return int(total)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--address",
        help="Ray cluster to join (default: the one `ray start` ran here, else a new local one)",
    )
    args = parser.parse_args()
    try:
        main(args.address)
    finally:
        pool.terminate()
