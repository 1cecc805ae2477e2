"""Where a running cluster's metrics are: every alive node's metrics export port.

From the cluster itself first (the GCS node table, read through
``rayobs._cluster`` as ``rayobs memory`` reads it: the same addresses, token
checks, fast refusal and deadline), else from the Prometheus file-SD file Ray
writes into its session directory (and links from its temp dir). Ray is
imported only for the GCS route.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rayobs._cluster import ClusterUnavailable, alive_nodes, parse_address

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
    bootstrap, nodes = alive_nodes(address, timeout)
    urls = [
        f"http://{node.node_manager_address}:{node.metrics_export_port}/metrics"
        for node in nodes
        if node.metrics_export_port
    ]
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
        parse_address(address)
    except ClusterUnavailable as exc:  # bad input is an error, not a reason to fall back
        raise DiscoveryError(str(exc)) from None
    try:
        return from_gcs(address, timeout)
    except ClusterUnavailable as exc:  # RayInternalsChanged included
        if (address or os.environ.get("RAY_ADDRESS")) and session_dir is None:
            raise DiscoveryError(str(exc)) from None  # never another cluster's targets
        try:
            return from_sd_file(candidates)
        except DiscoveryError:
            raise DiscoveryError(str(exc)) from None
