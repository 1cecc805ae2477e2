"""The environment every benchmark that starts Ray needs, set before Ray is imported."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rayobs.demo._local_ray import init_local, prepare_environment


@functools.cache
def prepare_ray_environment() -> None:
    """Loopback only, and a throwaway auth token: a benchmark never writes ``~/.ray``.

    Once per process: a benchmark that prepares before importing Ray and then
    starts it through :func:`local_ray` gets one temporary directory, not two.
    It is removed at exit (registered before Ray is imported, so after Ray's
    own shutdown at exit).
    """
    work_dir = Path(tempfile.mkdtemp(prefix="rayobs-bench-", dir="/tmp"))
    atexit.register(shutil.rmtree, work_dir, ignore_errors=True)
    prepare_environment(work_dir)


@contextmanager
def local_ray(num_cpus: int, **options: Any) -> Iterator[Any]:
    """The ``ray`` module, connected: to the Ray this process already runs, else a fresh one.

    ``options`` go to ``ray.init`` for a fresh one, which is shut down on the way out.
    """
    prepare_ray_environment()
    import ray

    own = not ray.is_initialized()
    if own:
        init_local(num_cpus, **options)
    try:
        yield ray
    finally:
        if own:
            ray.shutdown()
