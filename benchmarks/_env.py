"""The environment every benchmark that starts Ray needs, set before Ray is imported."""

from __future__ import annotations

import tempfile
from pathlib import Path

from rayobs._local_ray import prepare_environment


def prepare_ray_environment() -> None:
    """Loopback only, and a throwaway auth token: a benchmark never writes ``~/.ray``."""
    prepare_environment(Path(tempfile.mkdtemp(prefix="rayobs-bench-", dir="/tmp")))
