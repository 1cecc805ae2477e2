"""``rayobs top``: calls/s, errors, exceptions, p50/p95/p99 and in-flight per function, live.

With ``--endpoint`` or ``--prometheus`` Ray is never imported (the first frame
comes fast during an incident); ``--address`` (or nothing) reads the cluster's
node table to find every node's metrics port. The live view needs the
``top`` extra (rich); ``--once`` does not.
"""

from __future__ import annotations

import json
import sys
import time

import click

from rayobs.cli._errors import fail, missing_extra
from rayobs.cli._options import (
    CONTEXT_SETTINGS,
    EnumChoice,
    OutputFormat,
    address_option,
    format_option,
    timeout_option,
)
from rayobs.top._compute import SortBy, select
from rayobs.top._fetch import endpoint_url
from rayobs.top._model import TopSnapshot
from rayobs.top._promql import PrometheusError, prometheus_url
from rayobs.top._render import snapshot_to_dict, snapshot_to_text
from rayobs.top._sources import EndpointSource, PrometheusSource, Source, fetch_timeout


def _urls(endpoints: tuple[str, ...]) -> list[str]:
    try:
        return list(dict.fromkeys(endpoint_url(text) for text in endpoints))
    except ValueError as exc:
        fail(f"--endpoint: {exc}")


def _discovered(address: str | None, session_dir: str | None, timeout: float) -> EndpointSource:
    from rayobs._cluster import native_stderr_silenced
    from rayobs.top._discover import DiscoveryError, discover

    try:
        with native_stderr_silenced():
            found = discover(address, session_dir, timeout)
    except DiscoveryError as exc:
        fail(str(exc))
    return EndpointSource(found.urls, 0.0, f"{len(found.urls)} endpoint(s) from {found.how}")


def _once(source: Source, interval: float) -> TopSnapshot:
    if isinstance(source, PrometheusSource):
        try:
            return source.frame_or_raise()
        except PrometheusError as exc:
            fail(str(exc))
    started = time.monotonic()
    first = source.frame()
    if not any(e.ok for e in first.endpoints):
        problems = "; ".join(f"{e.source}: {e.error}" for e in first.endpoints)
        fail(f"no metrics endpoint answered ({problems})")
    time.sleep(max(0.0, interval - (time.monotonic() - started)))
    return source.frame()


@click.command("top", context_settings=CONTEXT_SETTINGS)
@address_option(
    " Every alive node's metrics port is read from the GCS node table; Ray's file-SD "
    "targets file when the cluster cannot be asked."
)
@click.option(
    "--session-dir",
    metavar="DIR",
    help="A Ray session or temp directory: read its file-SD targets "
    "(prom_metrics_service_discovery.json) without contacting the cluster.",
)
@click.option(
    "--prometheus",
    "prometheus",
    metavar="URL",
    help="A Prometheus server that scrapes the cluster: the figures come from PromQL "
    "(rate windows of at least 30 s).",
)
@click.option(
    "--endpoint",
    "endpoints",
    metavar="URL",
    multiple=True,
    help="A node's metrics endpoint (HOST:PORT or URL); repeat for each node.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.5, max=3600.0),
    default=2.0,
    show_default=True,
    help="Seconds between refreshes; rates and quantiles cover the last interval.",
)
@click.option(
    "--sort",
    "sort_by",
    type=EnumChoice(SortBy),
    default=SortBy.CALLS.value,
    show_default=True,
    help="Order of the rows (largest first).",
)
@click.option(
    "--filter",
    "filter_text",
    metavar="TEXT",
    default="",
    help="Only rows whose kind, name, app or component contains TEXT.",
)
@click.option("--once", is_flag=True, help="Print one frame (two samples one interval apart).")
@format_option("Output of --once.", table_alias=True)
@timeout_option("Seconds to wait for the cluster (--address) or Prometheus to answer.")
def top(
    address: str | None,
    session_dir: str | None,
    prometheus: str | None,
    endpoints: tuple[str, ...],
    interval: float,
    sort_by: str,
    filter_text: str,
    once: bool,
    output_format: str,
    timeout: float,
) -> None:
    """What every instrumented task and actor method is doing right now.

    Per function (kind, name, app, component): calls/s, error ratio, the top
    exception types, p50/p95/p99 (from the duration histogram's buckets, as
    PromQL's histogram_quantile computes them) and calls in flight, with a
    cluster line (nodes, tasks by state, object store, worker deaths and OOM
    kills since the view started). No Prometheus or Grafana needed: node
    endpoints are read directly. An endpoint that does not answer is shown
    as such. Keys in the live view: q quit, c/e/p/i sort, / filter.

    \b
    Examples:
      rayobs top
      rayobs top --endpoint 127.0.0.1:8080 --once --format json
      rayobs top --prometheus http://127.0.0.1:9090 --sort errors
    """
    chosen = [
        name
        for name, given in (
            ("--address", address or session_dir),
            ("--prometheus", prometheus),
            ("--endpoint", endpoints),
        )
        if given
    ]
    if len(chosen) > 1:
        fail(f"choose one source: {' or '.join(chosen)}")
    if not once and OutputFormat(output_format) is OutputFormat.JSON:
        fail("--format json needs --once")
    source: Source
    if prometheus is not None:
        try:
            source = PrometheusSource(prometheus_url(prometheus), interval, timeout)
        except ValueError as exc:
            fail(f"--prometheus: {exc}")
    elif endpoints:
        urls = _urls(endpoints)
        source = EndpointSource(urls, fetch_timeout(interval))
    else:
        source = _discovered(address, session_dir, timeout)
        source.timeout = fetch_timeout(interval)
    sort = SortBy(sort_by)
    if once:
        snapshot = select(_once(source, interval), sort, filter_text)
        if OutputFormat(output_format) is OutputFormat.JSON:
            click.echo(json.dumps(snapshot_to_dict(snapshot), indent=2))
        else:
            click.echo(snapshot_to_text(snapshot))
        return
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        fail("the live view needs a terminal; use --once for scripts")
    try:
        from rayobs.top._live import ViewState, run_live
    except ImportError:
        missing_extra("rich", "top")
    run_live(source, interval, ViewState(sort=sort, filter_text=filter_text))
