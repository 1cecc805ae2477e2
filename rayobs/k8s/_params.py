"""What a user chooses when rendering the manifests, and the constants they share.

The committed files under ``k8s/`` are :data:`DEFAULTS` rendered; ``rayobs k8s
render`` renders the same templates with other values. Names that more than one
manifest must agree on (port names, container names, the cluster label) live
here once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rayobs.dashboards import _promql as dashboards_promql
from rayobs.metrics._catalog import DURATION_BUCKETS

# ---- shared by the PodMonitors, the RayCluster example, the alerts and the dashboards ----

# KubeRay's pod labels: the node type tells head from workers (Ray has no label for
# all nodes of a cluster, hence two PodMonitors); the cluster name becomes a target
# label under the name the dashboards' cluster variable reads.
NODE_TYPE_LABEL = "ray.io/node-type"
CLUSTER_POD_LABEL = "ray.io/cluster"
CLUSTER_LABEL = dashboards_promql.CLUSTER_LABEL  # ray_io_cluster

# Named container ports: a PodMonitor endpoint refers to a port by its name.
METRICS_PORT = ("metrics", 8080)  # every node's metrics agent (ray start --metrics-export-port)
AUTOSCALER_METRICS_PORT = ("as-metrics", 44217)  # the autoscaler, on the head
DASHBOARD_METRICS_PORT = ("dash-metrics", 44227)  # the dashboard process, on the head
HEAD_METRICS_PORTS = (METRICS_PORT, AUTOSCALER_METRICS_PORT, DASHBOARD_METRICS_PORT)
WORKER_METRICS_PORTS = (METRICS_PORT,)

HEAD_CONTAINER = "ray-head"
WORKER_CONTAINER = "ray-worker"
PART_OF = {"app.kubernetes.io/part-of": "rayobs"}

# Ray's agent pushes every 10 s by default, and a Ray gauge not set again within about
# two pushes vanishes: 15 s sees every value at least once.
SCRAPE_INTERVAL = "15s"
SCRAPE_TIMEOUT = "10s"
# An idle Ray 2.60 head exported about 650 samples and about 900 after a few worker
# failures (measured here). rayobs adds about 22 series per tag set per worker process
# for each instrumented function's latency histogram. The limit is a fuse against a
# tag-cardinality explosion, not a budget: past it Prometheus drops the whole scrape.
SAMPLE_LIMIT = 50_000

# ---- alert thresholds (the catalog says what is measured; these say what is bad) ----

ERROR_RATIO = 0.05  # share of calls of one task or method that raised
MIN_CALL_RATE = 1 / 60  # calls per second below which an error ratio is noise
P99_SECONDS = 30.0  # must be a bucket boundary, or histogram_quantile interpolates
OBJECT_STORE_FULL_RATIO = 0.9

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


class InvalidParameter(ValueError):
    """A rendering parameter Kubernetes would refuse; the message says which and why."""


@dataclass(frozen=True)
class Params:
    """Everything ``rayobs k8s render`` lets a user choose.

    >>> Params(namespace="obs", target_namespaces=("ray-prod",), release="kps").release
    'kps'
    """

    namespace: str = "monitoring"
    target_namespaces: tuple[str, ...] = ("default",)
    release: str = "kube-prometheus-stack"
    image: str = "ray-rayobs:2.60.0"
    dashboard_folder: str = "Ray"
    runbook_base: str = "docs/runbooks.md"
    error_ratio: float = ERROR_RATIO
    p99_seconds: float = P99_SECONDS

    def __post_init__(self) -> None:
        for name in (self.namespace, *self.target_namespaces):
            if len(name) > 63 or not _DNS_LABEL.match(name):
                raise InvalidParameter(
                    f"namespace {name!r}: use at most 63 lower-case letters, digits and '-', "
                    "starting and ending with a letter or digit"
                )
        if not self.target_namespaces:
            raise InvalidParameter("give at least one target namespace (where Ray runs)")
        if len(set(self.target_namespaces)) != len(self.target_namespaces):
            raise InvalidParameter(f"target namespaces repeat: {list(self.target_namespaces)}")
        if len(self.release) > 63 or not self.release or not _LABEL_VALUE.match(self.release):
            raise InvalidParameter(
                f"release {self.release!r} is not a valid label value: at most 63 letters, "
                "digits, '-', '_' or '.', starting and ending with a letter or digit"
            )
        if not self.image or any(c.isspace() for c in self.image):
            raise InvalidParameter(f"image {self.image!r}: give an image reference")
        if not self.dashboard_folder.strip() or not self.dashboard_folder.isprintable():
            raise InvalidParameter(f"dashboard folder {self.dashboard_folder!r}: give a name")
        if not 0 < self.error_ratio < 1:
            raise InvalidParameter(f"error ratio {self.error_ratio}: choose 0 < ratio < 1")
        if self.p99_seconds not in DURATION_BUCKETS:
            raise InvalidParameter(
                f"p99 threshold {self.p99_seconds:g}s is not a bucket boundary of "
                f"rayobs_call_duration_seconds; choose one of "
                f"{', '.join(f'{b:g}' for b in DURATION_BUCKETS)}"
            )

    @property
    def ray_namespace(self) -> str:
        """Where the example RayCluster goes: the first target namespace."""
        return self.target_namespaces[0]

    def monitor_labels(self) -> dict[str, str]:
        """Labels on PodMonitors and rules: Prometheus Operator selects on ``release``."""
        return {"release": self.release, **PART_OF}


DEFAULTS = Params()
