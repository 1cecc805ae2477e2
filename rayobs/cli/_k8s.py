"""``rayobs k8s``: Kubernetes manifests for Ray with Prometheus Operator and KubeRay."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from rayobs.cli._errors import fail
from rayobs.cli._options import CONTEXT_SETTINGS
from rayobs.k8s._params import DEFAULTS
from rayobs.metrics._catalog import DURATION_BUCKETS

# histogram_quantile is exact only at a bucket boundary.
_P99_CHOICES = tuple(f"{bound:g}" for bound in DURATION_BUCKETS)


@click.group("k8s", context_settings=CONTEXT_SETTINGS)
def k8s() -> None:
    """Kubernetes manifests: PodMonitors, alert rules, dashboard ConfigMaps, a RayCluster."""


@k8s.command("render")
@click.option(
    "--namespace",
    default=DEFAULTS.namespace,
    show_default=True,
    help="Namespace of the PodMonitors, the PrometheusRule and the dashboard ConfigMaps.",
)
@click.option(
    "--target-namespace",
    "target_namespaces",
    multiple=True,
    default=DEFAULTS.target_namespaces,
    show_default=True,
    help="Namespace where Ray runs (repeatable); the example RayCluster goes in the first.",
)
@click.option(
    "--release",
    default=DEFAULTS.release,
    show_default=True,
    help="Helm release of kube-prometheus-stack: its Prometheus selects `release: NAME`.",
)
@click.option(
    "--output-dir",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the kustomization and its files here; default: every resource to stdout.",
)
@click.option(
    "--dashboards",
    "dashboards_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("dashboards"),
    show_default=True,
    help="Directory of Grafana dashboard JSON files to wrap in ConfigMaps.",
)
@click.option(
    "--dashboard-folder",
    default=DEFAULTS.dashboard_folder,
    show_default=True,
    help="Grafana folder.",
)
@click.option("--image", default=DEFAULTS.image, show_default=True, help="Ray image.")
@click.option("--example/--no-example", default=True, help="Include the example RayCluster.")
@click.option(
    "--runbook-base",
    default=DEFAULTS.runbook_base,
    show_default=True,
    help="Where runbook_url annotations point; the alert's anchor is appended.",
)
@click.option(
    "--error-ratio",
    type=click.FloatRange(min=0, max=1, min_open=True, max_open=True),
    default=DEFAULTS.error_ratio,
    show_default=True,
    help="RayobsHighErrorRatio fires above this share of failed calls.",
)
@click.option(
    "--p99-seconds",
    type=click.Choice(_P99_CHOICES),
    default=f"{DEFAULTS.p99_seconds:g}",
    show_default=True,
    help="RayobsHighP99Latency fires above this p99 (a latency bucket boundary).",
)
def render(
    namespace: str,
    target_namespaces: tuple[str, ...],
    release: str,
    output_dir: Path | None,
    dashboards_dir: Path,
    dashboard_folder: str,
    image: str,
    example: bool,
    runbook_base: str,
    error_ratio: float,
    p99_seconds: str,
) -> None:
    """Render the manifests for your namespaces and Prometheus release.

    \b
    Examples:
      rayobs k8s render --namespace monitoring --target-namespace ray \\
        --release kps -o my-k8s && kubectl apply --server-side -k my-k8s
      rayobs k8s render --no-example | kubectl apply --server-side -f -
    """
    from rayobs.k8s import (
        DashboardError,
        InvalidParameter,
        Params,
        read_dashboards,
        stream,
        write,
    )
    from rayobs.k8s import render as render_manifests

    try:
        params = Params(
            namespace=namespace,
            target_namespaces=target_namespaces,
            release=release,
            image=image,
            dashboard_folder=dashboard_folder,
            runbook_base=runbook_base,
            error_ratio=error_ratio,
            p99_seconds=float(p99_seconds),
        )
        dashboards = read_dashboards(dashboards_dir)
        manifests = render_manifests(params, dashboards, example=example)
    except (InvalidParameter, DashboardError) as exc:
        fail(str(exc))
    if not dashboards:
        click.echo(f"rayobs k8s: no {dashboards_dir}/*.json: no dashboard ConfigMaps", err=True)
    if output_dir is None:
        sys.stdout.write(stream(manifests))
        return
    try:
        written = write(manifests, output_dir)
    except OSError as exc:
        fail(f"cannot write to {output_dir}: {exc.strerror or exc}")
    click.echo(f"rayobs k8s: wrote {len(written)} files to {output_dir}", err=True)
