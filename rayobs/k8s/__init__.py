"""Kubernetes manifests for Ray with rayobs, generated from the metric catalog.

PodMonitors for KubeRay's head and worker pods, a PrometheusRule, Grafana
dashboard ConfigMaps and an example RayCluster, behind one kustomization::

    from rayobs.k8s import Params, read_dashboards, render, write

    params = Params(namespace="monitoring", target_namespaces=("ray",), release="kps")
    write(render(params, read_dashboards(Path("dashboards"))), Path("k8s"))

Loaded only by ``rayobs k8s`` and the tests: importing rayobs does not import it.
"""

from __future__ import annotations

from rayobs.k8s._dashboards import Dashboard, DashboardError, read_dashboards
from rayobs.k8s._params import DEFAULTS, InvalidParameter, Params
from rayobs.k8s._render import Manifest, command_line, render, stream, write
from rayobs.k8s._rules import Alert, alerts, rule_groups

__all__ = [
    "DEFAULTS",
    "Alert",
    "Dashboard",
    "DashboardError",
    "InvalidParameter",
    "Manifest",
    "Params",
    "alerts",
    "command_line",
    "read_dashboards",
    "render",
    "rule_groups",
    "stream",
    "write",
]
