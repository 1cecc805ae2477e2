"""A throwaway local Ray on 127.0.0.1: its environment, its token, how to start one.

For the Ray that rayobs starts itself (the demo, the benchmarks) and the test
harness's. Loopback only: Ray 2.60 rewrites 127.0.0.1 to the host's routable
address unless ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``. The auth token lives in
a work directory, never in ``~/.ray``. Ray reads these settings once, when it is
first imported: set them before ``import ray`` (or pass the environment to the
process that starts or joins the cluster).
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rayobs.demo._ports import free_port

RAY = Path(sys.executable).parent / "ray"  # the `ray` script next to this interpreter


def new_token(directory: Path) -> Path:
    """Write a fresh auth token into ``directory`` (readable by its owner only); its path."""
    path = directory / "auth_token"
    path.write_text(secrets.token_hex(32))
    path.chmod(0o600)
    return path


def loopback_env(token: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a process that starts or joins a throwaway cluster.

    ``base`` (default: this process's environment) with loopback only, token
    authentication with the token file ``token``, no usage stats, and no drain
    on SIGTERM (30 s otherwise); ``RAY_ADDRESS`` and ``RAY_AUTH_TOKEN`` are not
    inherited, so nothing points at another cluster.
    """
    env = dict(os.environ if base is None else base)
    env.update(
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN_PATH=str(token),
        RAY_USAGE_STATS_ENABLED="0",
        RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",
    )
    env.pop("RAY_AUTH_TOKEN", None)
    env.pop("RAY_ADDRESS", None)
    return env


def prepare_environment(work_dir: Path) -> None:
    """Loopback only, no usage stats, and an auth token in ``work_dir``, never ``~/.ray``.

    Ray reads these when it is first imported, so call this before ``import ray``.
    Settings the caller already made (``RAY_AUTH_MODE``, usage stats) are kept.
    """
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if "RAY_AUTH_MODE" not in os.environ:
        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ["RAY_AUTH_TOKEN_PATH"] = str(new_token(work_dir))


def init_local(num_cpus: int, **options: Any) -> None:
    """Start a fresh single-node Ray in this process, on 127.0.0.1, without a dashboard.

    ``address="local"``: never join a cluster found on the machine. ``options``
    go to ``ray.init`` as they are (``logging_level`` defaults to ERROR).
    """
    import ray

    options.setdefault("logging_level", logging.ERROR)
    ray.init(
        address="local",
        num_cpus=num_cpus,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        **options,
    )


def head_command(
    temp_dir: Path,
    *,
    gcs_port: int,
    metrics_port: int,
    num_cpus: int = 2,
    dashboard_port: int | None = None,
) -> list[str]:
    """``ray start --head --block`` on 127.0.0.1 with these ports and its own ``temp_dir``.

    Without ``dashboard_port`` the head runs no dashboard. The dashboard agent
    gets a free port too (Ray's fixed default would collide with any other
    cluster on the machine). Ray's Unix socket paths live under ``temp_dir``:
    keep it short.
    """
    dashboard = (
        ["--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}"]
        if dashboard_port is not None
        else ["--include-dashboard=false", f"--dashboard-port={free_port()}"]
    )
    return [
        str(RAY),
        "start",
        "--head",
        "--block",
        "--node-ip-address=127.0.0.1",
        f"--port={gcs_port}",
        f"--num-cpus={num_cpus}",
        "--num-gpus=0",
        f"--metrics-export-port={metrics_port}",
        *dashboard,
        f"--dashboard-agent-listen-port={free_port()}",
        f"--temp-dir={temp_dir}",
        "--disable-usage-stats",
    ]


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
