"""The environment every benchmark that starts Ray needs, set before Ray is imported.

Loopback only (Ray 2.60 swaps 127.0.0.1 for the routable address otherwise), no
usage stats, and token authentication with a throwaway token in a temp dir, so a
benchmark never writes ``~/.ray/auth_token``.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path


def prepare_ray_environment() -> None:
    """Set Ray's environment for this process (idempotent; keeps what the caller set)."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if "RAY_AUTH_MODE" not in os.environ:
        token = Path(tempfile.mkdtemp(prefix="rayobs-bench-", dir="/tmp")) / "auth_token"
        token.write_text(secrets.token_hex(32))
        token.chmod(0o600)
        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ["RAY_AUTH_TOKEN_PATH"] = str(token)
