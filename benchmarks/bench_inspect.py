"""Benchmark: the serializability inspector against cloudpickle and Ray's inspector.

Run ``python benchmarks/bench_inspect.py`` (exit status 1 when a limit is
exceeded), or call :func:`main`, which only prints. Every number is a median
measured in the same run, so ratios compare like with like.

The graph is what a driver script builds: a ``Catalog`` with 100 ``Shard``
attributes of 99 ``Item`` attributes each (10,001 objects), reached from a
task's globals; the classes are defined in the script, so cloudpickle pickles
them by value, as Ray does.

Limits checked:

- serializable graph: ``rayobs.inspect_serializability`` <= 1.2 x ``cloudpickle.dumps``;
- the same graph with 10 locks on items, placed at random (8 seeds): rayobs
  finding every culprit <= 1.0 x one ``cloudpickle.dumps`` of the graph without
  culprits (median over the placements). Finding every culprit needs about one
  pass over the whole graph, wherever the culprits are.

For reference, the table also gives ``ray.util.inspect_serializability``
(default depth), which stops at its first failure: its time depends on how far
into the graph that failure lies, so a ratio to it says where the first culprit
was more than how fast the search is.
"""

from __future__ import annotations

import functools
import io
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SHARDS = 100
ITEMS_PER_SHARD = 99
CULPRITS = 10
SEEDS = range(1, 9)
REPEATS = 11
WARMUP = 2
SERIALIZABLE_LIMIT = 1.2
FAILING_LIMIT = 1.0

GRAPH_SOURCE = """
class Item:
    def __init__(self, i):
        self.id = i
        self.name = f"item-{i}"
        self.price = i * 0.5

class Shard:
    def __init__(self, count, first):
        for j in range(count):
            setattr(self, f"item_{j:03d}", Item(first + j))

class Catalog:
    def __init__(self, shards, per_shard):
        for s in range(shards):
            setattr(self, f"shard_{s:03d}", Shard(per_shard, s * per_shard))

catalog = Catalog(SHARDS, ITEMS_PER_SHARD)

def handle(request):
    return catalog
"""


def build_graph(positions: list[int]) -> Callable[..., Any]:
    """The task ``handle``, whose global ``catalog`` holds a lock at each item position."""
    namespace: dict[str, Any] = {
        "__name__": "__main__",  # as in a script: pickled by value
        "SHARDS": SHARDS,
        "ITEMS_PER_SHARD": ITEMS_PER_SHARD,
    }
    exec(GRAPH_SOURCE, namespace)
    for position in positions:
        shard = getattr(namespace["catalog"], f"shard_{position // ITEMS_PER_SHARD:03d}")
        item = getattr(shard, f"item_{position % ITEMS_PER_SHARD:03d}")
        item.lock = threading.Lock()
    handle: Callable[..., Any] = namespace["handle"]
    return handle


DEEP_LEVELS = 100
DEEP_SOURCE = """
import threading

class Node:
    def __init__(self, child=None):
        self.child = child
        self.payload = {"name": "n", "values": list(range(20))}

def build(levels, lock):
    leaf = Node()
    if lock:
        leaf.lock = threading.Lock()
    root = leaf
    for _ in range(levels - 1):
        root = Node(root)
    return root
"""


def build_chain(lock: bool) -> object:
    """A script's chain of ``DEEP_LEVELS`` objects; with ``lock``, the last holds a lock."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(DEEP_SOURCE, namespace)
    return namespace["build"](DEEP_LEVELS, lock)


def _deepest_path(obj: object) -> int:
    """How many ``.child`` steps down the one reported culprit is (-1: none or several)."""
    import rayobs

    paths = rayobs.inspect_serializability(obj, name="root").paths
    if len(paths) != 1 or not paths[0].endswith(".lock"):
        return -1
    return paths[0].count(".child")


def _ray_inspect(obj: object) -> int:
    """Ray's inspector with its printing discarded; the number of failures it reports."""
    from ray.util import inspect_serializability

    stdout, stderr = sys.stdout, sys.stderr
    try:
        _ok, failures = inspect_serializability(obj, print_file=io.StringIO())
    finally:
        # It calls colorama.init() for every object it visits, wrapping the streams
        # once more each time; repeated runs then overflow the stack when writing.
        sys.stdout, sys.stderr = stdout, stderr
    return len(failures)


def _rayobs_inspect(obj: object) -> int:
    import rayobs

    return len(rayobs.inspect_serializability(obj).failures)


def _dumps(obj: object) -> int:
    import ray.cloudpickle

    ray.cloudpickle.dumps(obj)
    return 0


def _medians(contenders: dict[str, Callable[[], int]]) -> dict[str, tuple[float, int]]:
    """Median milliseconds and last result per contender, interleaved so drift hits all."""
    for run in contenders.values():
        for _ in range(WARMUP):
            run()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    results: dict[str, int] = {}
    for _ in range(REPEATS):
        for name, run in contenders.items():
            start = time.perf_counter()
            results[name] = run()
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(times[name]) * 1e3, results[name]) for name in contenders}


@dataclass(frozen=True)
class Placement:
    seed: int
    first_culprit: str
    ray_ms: float
    ray_found: int
    rayobs_ms: float
    rayobs_found: int

    @property
    def ratio(self) -> float:
        return self.rayobs_ms / self.ray_ms


@dataclass(frozen=True)
class Deep:
    """The chain: where rayobs's default budget found the lock, and how fast."""

    levels_found: int  # .child steps down to the reported lock; -1 when not found
    rayobs_ms: float
    dumps_ms: float  # one cloudpickle.dumps of the chain without the lock

    @property
    def found(self) -> bool:
        return self.levels_found == DEEP_LEVELS - 1


@dataclass(frozen=True)
class Results:
    dumps_ms: float
    serializable_ms: float
    placements: tuple[Placement, ...]
    deep: Deep

    @property
    def serializable_ratio(self) -> float:
        return self.serializable_ms / self.dumps_ms

    @property
    def median_ray_ratio(self) -> float:
        return statistics.median(p.ratio for p in self.placements)

    @property
    def failing_ratio(self) -> float:
        """Median time to every culprit / one cloudpickle.dumps of the clean graph."""
        return statistics.median(p.rayobs_ms for p in self.placements) / self.dumps_ms

    @property
    def passed(self) -> bool:
        return (
            self.serializable_ratio <= SERIALIZABLE_LIMIT
            and self.failing_ratio <= FAILING_LIMIT
            and self.deep.found
        )


def measure() -> Results:
    """Time the serializable graph, then the failing graph under every placement."""
    good = build_graph([])
    medians = _medians(
        {
            "dumps": functools.partial(_dumps, good),
            "rayobs": functools.partial(_rayobs_inspect, good),
        }
    )
    total = SHARDS * ITEMS_PER_SHARD
    placements = []
    for seed in SEEDS:
        positions = sorted(random.Random(seed).sample(range(total), CULPRITS))
        bad = build_graph(positions)
        timed = _medians(
            {
                "ray": functools.partial(_ray_inspect, bad),
                "rayobs": functools.partial(_rayobs_inspect, bad),
            }
        )
        shard, item = divmod(positions[0], ITEMS_PER_SHARD)
        placements.append(
            Placement(
                seed=seed,
                first_culprit=f"shard_{shard:03d}.item_{item:03d} ({positions[0] / total:.0%})",
                ray_ms=timed["ray"][0],
                ray_found=timed["ray"][1],
                rayobs_ms=timed["rayobs"][0],
                rayobs_found=timed["rayobs"][1],
            )
        )
    chain = _medians(
        {
            "dumps": functools.partial(_dumps, build_chain(lock=False)),
            "rayobs": functools.partial(_deepest_path, build_chain(lock=True)),
        }
    )
    deep = Deep(chain["rayobs"][1], chain["rayobs"][0], chain["dumps"][0])
    return Results(medians["dumps"][0], medians["rayobs"][0], tuple(placements), deep)


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _verdict(ratio: float, limit: float) -> str:
    return "ok" if ratio <= limit else "OVER"


def render(results: Results) -> str:
    """The results as plain-text tables."""
    objects = SHARDS * ITEMS_PER_SHARD + SHARDS + 1
    lines = [f"Serializable graph ({objects:,} objects), medians of {REPEATS} runs:"]
    lines += _table(
        [
            ("tool", "median ms", "ratio", "limit"),
            ("cloudpickle.dumps", f"{results.dumps_ms:.1f}", "1.00", "-"),
            (
                "rayobs.inspect_serializability",
                f"{results.serializable_ms:.1f}",
                f"{results.serializable_ratio:.2f}",
                f"<= {SERIALIZABLE_LIMIT} "
                + _verdict(results.serializable_ratio, SERIALIZABLE_LIMIT),
            ),
        ]
    )
    lines += ["", f"Same graph with {CULPRITS} locks at random items (one row per seed):"]
    rows = [("seed", "first culprit", "ray ms", "found", "rayobs ms", "found", "rayobs/ray")]
    for p in results.placements:
        rows.append(
            (
                str(p.seed),
                p.first_culprit,
                f"{p.ray_ms:.1f}",
                str(p.ray_found),
                f"{p.rayobs_ms:.1f}",
                str(p.rayobs_found),
                f"{p.ratio:.2f}",
            )
        )
    lines += _table(rows)
    lines += [
        "",
        f"median rayobs on the failing graph vs one cloudpickle.dumps of the graph without "
        f"culprits: {results.failing_ratio:.2f} (limit <= {FAILING_LIMIT} "
        f"{_verdict(results.failing_ratio, FAILING_LIMIT)})",
        f"median rayobs/ray (for reference; Ray stops at its first failure): "
        f"{results.median_ray_ratio:.2f}",
        "",
        f"A chain of {DEEP_LEVELS} objects with a lock in the last, default budget: "
        + (
            f"found {DEEP_LEVELS} levels down ({results.deep.levels_found} .child steps) in "
            f"{results.deep.rayobs_ms:.1f} ms; one cloudpickle.dumps of the chain without "
            f"the lock {results.deep.dumps_ms:.1f} ms"
            if results.deep.found
            else f"NOT FOUND (deepest report: {results.deep.levels_found})"
        ),
    ]
    return "\n".join(lines)


def report() -> bool:
    """Measure and print; whether every limit held."""
    results = measure()
    print(f"inspect_serializability benchmark (Python {sys.version.split()[0]})")
    print(render(results))
    return results.passed


def main() -> None:
    """Measure and print the tables (the limits are reported, not raised)."""
    report()


if __name__ == "__main__":
    sys.exit(0 if report() else 1)
