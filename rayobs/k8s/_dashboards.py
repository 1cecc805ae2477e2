"""Grafana dashboard ConfigMaps for kube-prometheus-stack's dashboard sidecar.

The sidecar loads every ConfigMap labelled ``grafana_dashboard: "1"`` (in any
namespace, with the chart's defaults) and, when the chart sets
``grafana.sidecar.dashboards.folderAnnotation: grafana_folder``, files it in the
folder the annotation names. Each ``dashboards/*.json`` becomes one ConfigMap,
its text copied byte for byte.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rayobs.k8s._params import PART_OF, Params

SIDECAR_LABEL = "grafana_dashboard"
FOLDER_ANNOTATION = "grafana_folder"
NAME_PREFIX = "rayobs-dashboard-"
# The API server refuses a ConfigMap whose data exceeds 1 MiB.
MAX_CONFIGMAP_BYTES = 1024 * 1024


class DashboardError(ValueError):
    """A dashboard file that cannot become a ConfigMap; the message names the file."""


@dataclass(frozen=True)
class Dashboard:
    """One dashboard file as read: its file name and exact text."""

    filename: str
    text: str

    @property
    def stem(self) -> str:
        return self.filename.removesuffix(".json")


def read_dashboards(directory: Path) -> list[Dashboard]:
    """Every ``*.json`` directly in ``directory`` (none if it does not exist), by name."""
    found = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        text = path.read_text(encoding="utf-8")
        try:
            model = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DashboardError(f"{path}: not JSON ({exc})") from exc
        if isinstance(model, dict) and "__inputs" in model:
            # Only Grafana's import dialog fills ${DS_...} inputs; provisioning never does.
            raise DashboardError(
                f"{path} was exported for sharing externally (it has __inputs): its "
                "${DS_...} datasource inputs stay unresolved when provisioned; export it "
                "without that option, with a datasource template variable"
            )
        found.append(Dashboard(path.name, text))
    return found


def configmap_name(dashboard: Dashboard) -> str:
    """A DNS-1123 name: ``Ray Overview.json`` → ``rayobs-dashboard-ray-overview``."""
    slug = re.sub(r"[^a-z0-9]+", "-", dashboard.stem.lower()).strip("-") or "dashboard"
    return (NAME_PREFIX + slug)[:253].rstrip("-")


def configmap(params: Params, dashboard: Dashboard) -> dict[str, Any]:
    """The ConfigMap for one dashboard; ``DashboardError`` if Kubernetes would refuse it."""
    if not re.fullmatch(r"[-._a-zA-Z0-9]+", dashboard.filename):
        raise DashboardError(
            f"dashboards/{dashboard.filename}: a ConfigMap key allows only letters, digits, "
            "'-', '_' and '.': rename the file"
        )
    size = len(dashboard.text.encode())
    if size > MAX_CONFIGMAP_BYTES:
        raise DashboardError(
            f"dashboards/{dashboard.filename} is {size} bytes; a ConfigMap holds at most "
            f"{MAX_CONFIGMAP_BYTES}"
        )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": configmap_name(dashboard),
            "namespace": params.namespace,
            "labels": {SIDECAR_LABEL: "1", **PART_OF},
            "annotations": {FOLDER_ANNOTATION: params.dashboard_folder},
        },
        "data": {dashboard.filename: dashboard.text},
    }


def configmaps(params: Params, dashboards: list[Dashboard]) -> list[dict[str, Any]]:
    """One ConfigMap per dashboard; two files may not map to the same name."""
    maps = [configmap(params, d) for d in dashboards]
    names = [m["metadata"]["name"] for m in maps]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise DashboardError(f"dashboard files map to the same ConfigMap name: {clashes}")
    return maps
