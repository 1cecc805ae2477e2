"""Run every benchmark: ``python -m benchmarks [NAME ...]`` (``make bench``).

Each ``benchmarks/bench_<name>.py`` exposes ``main()`` and prints its own table
of medians and ratios against a baseline measured in the same run.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

from benchmarks._env import prepare_ray_environment

prepare_ray_environment()  # before any benchmark imports Ray


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    names = argv or sorted(p.stem.removeprefix("bench_") for p in here.glob("bench_*.py"))
    for name in names:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        print(f"=== {name} ===", flush=True)
        start = time.perf_counter()
        module.main()
        print(f"({time.perf_counter() - start:.1f} s)\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
