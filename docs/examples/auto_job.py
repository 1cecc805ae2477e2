"""A Ray job with no rayobs in it, measured by ``rayobs run``.

Nothing here imports rayobs: run it under ``rayobs run`` and every remote function,
actor class and Ray Data function is instrumented, in the driver and in the job's
workers, and Ray's serialization error gains a note naming what cannot be pickled::

    rayobs run -- python docs/examples/auto_job.py --address 127.0.0.1:6379

then ask Prometheus for ``sum by (name, outcome) (ray_rayobs_calls_total)``.
Run as plain ``python``, it does the same work and nothing is measured.
"""

from __future__ import annotations

import argparse
import threading
from typing import Any

import numpy as np
import ray


@ray.remote
def thumbnail(size: int) -> int:
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    return size // 4


@ray.remote
class Gallery:
    def __init__(self) -> None:
        self.pictures: list[int] = []

    def add(self, picture: int) -> int:
        self.pictures.append(picture)
        return len(self.pictures)


def brighten(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"id": batch["id"] + 10}


def main(address: str | None = None) -> dict[str, Any]:
    """Tasks, an actor, a Ray Data pipeline, and one thing Ray cannot pickle."""
    ray.init(address=address, ignore_reinit_error=True)
    sizes = [64, 128, 0, 256]
    thumbs = []
    for ref in [thumbnail.remote(size) for size in sizes]:
        try:
            thumbs.append(ray.get(ref))
        except ValueError:
            thumbs.append(None)
    gallery = Gallery.remote()
    count = ray.get([gallery.add.remote(t) for t in thumbs if t is not None])[-1]
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    total = ray.data.range(8, override_num_blocks=2).map_batches(brighten, batch_size=2).sum("id")
    print(f"thumbnails {thumbs}, gallery of {count}, brightened sum {total}")
    try:
        ray.put({"settings": {"guard": threading.Lock()}})
    except TypeError as exc:
        notes = getattr(exc, "__notes__", ["(no notes: not run under rayobs run)"])
        print(f"ray.put failed: {type(exc).__name__}; {notes[0].splitlines()[0]}")
        print(*[line for line in notes[0].splitlines() if line.startswith("[1]")])
    return {"thumbs": thumbs, "gallery": count, "sum": total}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--address",
        help="Ray cluster to join (default: the one `ray start` ran here, else a new local one)",
    )
    main(parser.parse_args().address)
