"""Where a running cluster's metrics are: every alive node's metrics export port.

From the cluster itself first (the GCS node table, read as ``rayobs memory``
reads it: same token checks, fast refusal, deadline), else from the
Prometheus file-SD file Ray writes into its session directory (and links
from its temp dir). Ray is imported only here, and only for the GCS route.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rayobs.diagnose._state import prepare_environment
from rayobs.memory._collect import (
    ClusterUnavailable,
    RayInternalsChanged,
    _ray_api,
    _refuse_fast,
    _within,
    check_token_settings,
)

SD_FILE = "prom_metrics_service_discovery.json"  # ray_constants.PROMETHEUS_SERVICE_DISCOVERY_FILE
DEFAULT_SD_FILES = (Path("/tmp/ray/session_latest") / SD_FILE, Path("/tmp/ray") / SD_FILE)


class DiscoveryError(RuntimeError):
    """No endpoint could be found (one line, says what to pass instead)."""


@dataclass(frozen=True)
class Discovered:
    urls: tuple[str, ...]
    how: str  # "GCS 127.0.0.1:6379" or the file-SD path


def from_gcs(address: str | None, timeout: float) -> Discovered:
    """The metrics URL of every alive node in the GCS node table."""
    check_token_settings()
    if address is not None and "://" in address:
        raise ClusterUnavailable(
            f"--address takes the cluster's GCS address HOST:PORT (e.g. 127.0.0.1:6379), "
            f"not a URL: {address}"
        )
    deadline = time.monotonic() + timeout
    if address and address not in ("auto", "local"):
        _refuse_fast(address, min(2.0, timeout))  # before paying for `import ray`
    prepare_environment()
    api = _ray_api()
    where = address or "the local cluster"

    def nodes() -> tuple[str, list[str]]:
        bootstrap = api.canonicalize(address)
        client = api.gcs_client(address=bootstrap, cluster_id=None)
        info = client.get_all_node_info(timeout=max(1.0, deadline - time.monotonic()))
        return bootstrap, [
            f"http://{node.node_manager_address}:{node.metrics_export_port}/metrics"
            for node in info.values()
            if node.state == api.alive and node.metrics_export_port
        ]

    bootstrap, urls = _within(deadline, f"no Ray cluster answered at {where}", nodes, where)
    if not urls:
        raise ClusterUnavailable(f"the cluster at {bootstrap} has no alive node with metrics")
    return Discovered(tuple(sorted(urls)), f"GCS {bootstrap}")


def sd_targets(path: Path) -> tuple[str, ...]:
    """The targets of a Prometheus file-SD JSON file, as metrics URLs.

    Raises ``DiscoveryError`` when the file is unreadable or not file-SD JSON.
    """
    try:
        groups = json.loads(path.read_text(encoding="utf-8"))
        targets = [str(t) for group in groups for t in group.get("targets", [])]
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise DiscoveryError(f"cannot read Ray's file-SD targets from {path}: {exc}") from None
    return tuple(dict.fromkeys(f"http://{target}/metrics" for target in targets if target))


def from_sd_file(candidates: Sequence[Path]) -> Discovered:
    for path in candidates:
        if path.is_file():
            urls = sd_targets(path)
            if urls:
                return Discovered(urls, str(path))
    raise DiscoveryError("no Ray file-SD targets in " + ", ".join(str(p) for p in candidates))


def discover(address: str | None, session_dir: str | None, timeout: float) -> Discovered:
    """Endpoints of the cluster at ``address`` (or the local one); file-SD as the fallback.

    With only ``session_dir``, the cluster is not contacted: its file-SD file is read.
    The fallback for a cluster named by ``address`` or ``RAY_ADDRESS`` is only
    the file-SD file of the ``session_dir`` given with it, never the latest
    local session (which may be another cluster's).
    """
    if session_dir is not None:
        base = Path(session_dir)
        candidates: tuple[Path, ...] = (base / SD_FILE, base / "session_latest" / SD_FILE)
    else:
        candidates = DEFAULT_SD_FILES
    if session_dir is not None and address is None:
        return from_sd_file(candidates)
    try:
        return from_gcs(address, timeout)
    except (ClusterUnavailable, RayInternalsChanged) as exc:
        if (address or os.environ.get("RAY_ADDRESS")) and session_dir is None:
            raise DiscoveryError(str(exc)) from None  # never another cluster's targets
        try:
            return from_sd_file(candidates)
        except DiscoveryError:
            raise DiscoveryError(str(exc)) from None
