"""A KubeRay ``RayCluster`` wired for rayobs: named metrics ports, the worker setup
hook's settings, and the head's ``ray start`` under ``rayobs launch``.

The port and container names are the ones the PodMonitors and alerts use; the
``RAYOBS_*`` names come from ``rayobs._config``. No secrets: nothing here
authenticates to anything.
"""

from __future__ import annotations

from typing import Any

from rayobs import _config
from rayobs.k8s._params import (
    AUTOSCALER_METRICS_PORT,
    DASHBOARD_METRICS_PORT,
    HEAD_CONTAINER,
    METRICS_PORT,
    PART_OF,
    WORKER_CONTAINER,
    Params,
)
from rayobs.k8s._yaml import Commented

CLUSTER_NAME = "rayobs-example"
RAY_VERSION = "2.60.0"
PROFILE_DIR = "/tmp/profiles"
# Seconds between memory samples of the head's processes. Around a local head this cost
# 0.15 s of CPU and 2 KB of samples in the first minute (start-up included), so it stays
# on; the file outlives an OOM-killed container in the pod's emptyDir.
HEAD_MEMORY_INTERVAL = 10
WORKER_RSS_INTERVAL = "10"

HEAD_SCRIPT = f"""ulimit -n 65536
exec rayobs launch --memory --interval {HEAD_MEMORY_INTERVAL} --output-dir {PROFILE_DIR} -- \\
  $KUBERAY_GEN_RAY_START_CMD
"""
WORKER_SCRIPT = """ulimit -n 65536
exec $KUBERAY_GEN_RAY_START_CMD
"""

HEAD_COMMAND_COMMENT = f"""\
The ray.io/overwrite-container-cmd annotation makes KubeRay run this instead of its
own command; it puts the `ray start --head --block ...` it would have run in
$KUBERAY_GEN_RAY_START_CMD. `rayobs launch` runs it, passes signals and the exit
status through, and samples the memory of ray start and every process it starts
(raylet, GCS, dashboard, drivers, workers) every {HEAD_MEMORY_INTERVAL}s into
{PROFILE_DIR}/*.mprof.dat. Read it with `rayobs profile report FILE`.
To switch CPU profiling on as well, and sample memory every second:
  exec rayobs launch --memory --cpu --interval 1 --output-dir {PROFILE_DIR} -- \\
    $KUBERAY_GEN_RAY_START_CMD
To switch profiling off: exec $KUBERAY_GEN_RAY_START_CMD"""

ENV_COMMENT = f"""\
Settings of rayobs.hooks.setup_worker; every Ray worker inherits them from ray start.
They act once a job turns the hook on, e.g.
  ray.init(runtime_env={{"worker_process_setup_hook": "rayobs.hooks.setup_worker"}})
  ray job submit --runtime-env-json \\
    '{{"worker_process_setup_hook": "rayobs.hooks.setup_worker"}}' -- python job.py
Also available: {_config.WORKER_CPROFILE_DIR.env}={PROFILE_DIR} (a cProfile per worker),
{_config.PYCHARM.env}=host:port (attach to a PyCharm debug server)."""


def _env() -> list[dict[str, str]]:
    return [
        {"name": _config.FAULTHANDLER.env, "value": "1"},
        {"name": _config.WORKER_RSS_INTERVAL.env, "value": WORKER_RSS_INTERVAL},
    ]


def _port(port: tuple[str, int]) -> dict[str, Any]:
    name, number = port
    return {"name": name, "containerPort": number, "protocol": "TCP"}


def _resources(cpu: str, memory: str) -> dict[str, Any]:
    # Memory request equal to its limit: a Ray node must not be overcommitted, or the
    # kernel OOM-kills it before Ray's memory monitor can pick a task to kill.
    return {
        "requests": {"cpu": "1", "memory": memory},
        "limits": {"cpu": cpu, "memory": memory},
    }


def _volumes() -> list[dict[str, Any]]:
    return [
        {"name": "ray-logs", "emptyDir": {}},
        {"name": "profiles", "emptyDir": {"sizeLimit": "1Gi"}},
    ]


def _mounts() -> list[dict[str, str]]:
    return [
        {"name": "ray-logs", "mountPath": "/tmp/ray"},
        {"name": "profiles", "mountPath": PROFILE_DIR},
    ]


def _container(
    params: Params, name: str, script: str, ports: list[dict[str, Any]], comment: str
) -> dict[str, Any]:
    return {
        "name": name,
        "image": params.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/bash", "-c", "--"],
        "args": Commented([script], comment),
        "env": Commented(_env(), ENV_COMMENT),
        "ports": ports,
        "resources": _resources("2", "4Gi"),
        "volumeMounts": _mounts(),
    }


def raycluster(params: Params) -> dict[str, Any]:
    """The example RayCluster, in the first target namespace."""
    head_ports = [
        _port(("gcs-server", 6379)),
        _port(("dashboard", 8265)),
        _port(("client", 10001)),
        _port(METRICS_PORT),
        _port(AUTOSCALER_METRICS_PORT),
        _port(DASHBOARD_METRICS_PORT),
    ]
    head = _container(params, HEAD_CONTAINER, HEAD_SCRIPT, head_ports, HEAD_COMMAND_COMMENT)
    worker = _container(
        params,
        WORKER_CONTAINER,
        WORKER_SCRIPT,
        [_port(METRICS_PORT)],
        "KubeRay's own ray start command (see the head's comment).",
    )
    metrics_port = str(METRICS_PORT[1])
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {
            "name": CLUSTER_NAME,
            "namespace": params.ray_namespace,
            "labels": dict(PART_OF),
            "annotations": {"ray.io/overwrite-container-cmd": "true"},
        },
        "spec": {
            "rayVersion": RAY_VERSION,
            "enableInTreeAutoscaling": True,
            "autoscalerOptions": {
                "idleTimeoutSeconds": 60,
                "resources": {
                    "requests": {"cpu": "200m", "memory": "512Mi"},
                    "limits": {"cpu": "500m", "memory": "512Mi"},
                },
            },
            "headGroupSpec": {
                "rayStartParams": Commented(
                    {
                        "dashboard-host": "0.0.0.0",
                        "metrics-export-port": metrics_port,
                        "num-cpus": "0",
                    },
                    "num-cpus 0 keeps tasks and actors off the head.",
                ),
                "template": {
                    "metadata": {"labels": dict(PART_OF)},
                    "spec": {"containers": [head], "volumes": _volumes()},
                },
            },
            "workerGroupSpecs": [
                {
                    "groupName": "workers",
                    "replicas": 1,
                    "minReplicas": 1,
                    "maxReplicas": 3,
                    "rayStartParams": {"metrics-export-port": metrics_port},
                    "template": {
                        "metadata": {"labels": dict(PART_OF)},
                        "spec": {"containers": [worker], "volumes": _volumes()},
                    },
                }
            ],
        },
    }
