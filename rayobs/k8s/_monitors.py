"""PodMonitors for KubeRay pods: one for heads, one for workers.

Ray labels its pods ``ray.io/node-type: head|worker`` and nothing else common to
every node, so two monitors select them. Both copy the pod label
``ray.io/cluster`` into the target label ``ray_io_cluster``, which the
dashboards' cluster variable and the alerts group by.
"""

from __future__ import annotations

from typing import Any

from rayobs.k8s._params import (
    CLUSTER_LABEL,
    CLUSTER_POD_LABEL,
    HEAD_METRICS_PORTS,
    NODE_TYPE_LABEL,
    SAMPLE_LIMIT,
    SCRAPE_INTERVAL,
    SCRAPE_TIMEOUT,
    WORKER_METRICS_PORTS,
    Params,
)

HEAD_MONITOR = "rayobs-ray-head"
WORKER_MONITOR = "rayobs-ray-workers"


def _meta_label(pod_label: str) -> str:
    """The discovery label Prometheus gives a pod label (``ray.io/x`` → ``..._ray_io_x``)."""
    sanitized = "".join(c if c.isalnum() or c == "_" else "_" for c in pod_label)
    return f"__meta_kubernetes_pod_label_{sanitized}"


def _endpoint(port: str) -> dict[str, Any]:
    return {
        "port": port,
        "path": "/metrics",
        "interval": SCRAPE_INTERVAL,
        "scrapeTimeout": SCRAPE_TIMEOUT,
        "relabelings": [
            {
                "action": "replace",
                "sourceLabels": [_meta_label(CLUSTER_POD_LABEL)],
                "targetLabel": CLUSTER_LABEL,
            },
        ],
    }


def pod_monitor(
    params: Params, name: str, node_type: str, ports: tuple[tuple[str, int], ...]
) -> dict[str, Any]:
    """A PodMonitor selecting ``ray.io/node-type: node_type`` pods in the target namespaces."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {
            "name": name,
            "namespace": params.namespace,
            "labels": params.monitor_labels(),
        },
        "spec": {
            "namespaceSelector": {"matchNames": list(params.target_namespaces)},
            "selector": {"matchLabels": {NODE_TYPE_LABEL: node_type}},
            "sampleLimit": SAMPLE_LIMIT,
            "podMetricsEndpoints": [_endpoint(port) for port, _number in ports],
        },
    }


def pod_monitors(params: Params) -> list[dict[str, Any]]:
    """The head monitor (metrics, autoscaler and dashboard ports) and the worker monitor."""
    return [
        pod_monitor(params, HEAD_MONITOR, "head", HEAD_METRICS_PORTS),
        pod_monitor(params, WORKER_MONITOR, "worker", WORKER_METRICS_PORTS),
    ]
