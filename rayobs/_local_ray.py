"""A throwaway local Ray started by rayobs (the demo, benchmarks, tests): its environment,
and a private network for Serve, whose replicas bind all interfaces."""

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


def private_network(argv: list[str]) -> list[str]:
    """``argv`` run in a new network namespace where only loopback is up (needs root).

    Ray Serve 2.60's replicas bind their gRPC server on ``[::]:0`` whatever the
    host settings say: inside the namespace that is loopback too. The namespace
    lives as long as a process in it does.

    >>> private_network(["python", "app.py"])[:3]
    ['unshare', '-n', 'bash']
    """
    return ["unshare", "-n", "bash", "-c", 'ip link set lo up && exec "$@"', "rayobs", *argv]


def kill_marked(marker: str, *, spare: int | None = None) -> int:
    """SIGKILL every process whose command line or environment names ``marker``
    (a run's own temp dir), except ``spare``; returns how many were killed.

    Ray's processes outlive a driver that died before ``ray.shutdown()``, and some
    start sessions of their own, so a process group is not enough.
    """
    import signal

    killed = 0
    needle = marker.encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) in (os.getpid(), spare):
            continue
        try:
            found = (
                needle in (proc / "cmdline").read_bytes()
                or needle in (proc / "environ").read_bytes()
            )
        except OSError:
            continue
        if found:
            try:
                os.kill(int(proc.name), signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
    return killed
