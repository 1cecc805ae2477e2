"""The environment for a throwaway local Ray started by rayobs (the demo, benchmarks)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def prepare_environment(work_dir: Path) -> None:
    """Loopback only, no usage stats, and an auth token in ``work_dir``, never ``~/.ray``.

    Ray reads these when it is first imported, so call this before ``import ray``.
    Settings the caller already made (``RAY_AUTH_MODE``, usage stats) are kept.
    """
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if "RAY_AUTH_MODE" not in os.environ:
        token = work_dir / "auth_token"
        token.write_text(secrets.token_hex(32))
        token.chmod(0o600)
        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ["RAY_AUTH_TOKEN_PATH"] = str(token)
