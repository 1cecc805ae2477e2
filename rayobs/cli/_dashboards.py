"""``rayobs dashboards``: build, import and preview the Grafana dashboards."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import click

from rayobs.cli._errors import fail, missing_extra

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(text: str) -> float:
    match = _DURATION.match(text.strip())
    if match is None:
        fail(f"not a duration: {text!r} (use e.g. 30s, 15m, 2h)")
    return float(match.group(1)) * _SECONDS[match.group(2)]


def _need(module: str, package: str, extra: str) -> None:
    if importlib.util.find_spec(module) is None:
        missing_extra(package, extra)


@click.group()
def dashboards() -> None:
    """Grafana dashboards built from rayobs' metric catalog and your own handles.

    \b
    rayobs dashboards build -o dashboards/             # the shipped dashboards
    rayobs dashboards build --module myapp.metrics -o out/
    GRAFANA_TOKEN=... rayobs dashboards import --url http://grafana:3000 --folder Ray
    rayobs dashboards preview tasks-actors --prometheus http://127.0.0.1:9090 -o out.png
    """


@dashboards.command()
@click.option(
    "--module",
    "modules",
    multiple=True,
    metavar="MODULE",
    help="Import MODULE and build a dashboard for the rayobs handles it defines (repeatable). "
    "Without it: the dashboards rayobs ships.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("dashboards"),
    show_default=True,
    help="Directory for the JSON files.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 if a file in the directory is missing or out of date.",
)
def build(modules: tuple[str, ...], output: Path, check: bool) -> None:
    """Write Grafana JSON for the shipped dashboards, or for your modules' handles.

    Each handle gets the panel its type calls for: a counter its rate, a gauge
    its value, a histogram its p50/p95/p99 and a heatmap; every tag key becomes
    a variable.
    """
    _need("grafana_foundation_sdk", "grafana-foundation-sdk", "grafana")
    from rayobs.dashboards._export import render_all, shipped, stale, write

    rendered = render_all(_app_dashboards(modules) if modules else shipped())
    if check:
        out_of_date = stale(rendered, output)
        if out_of_date:
            click.echo(
                f"out of date in {output}: {', '.join(out_of_date)} "
                f"(run: rayobs dashboards build -o {output})",
                err=True,
            )
            raise SystemExit(1)
        click.echo(f"{len(rendered)} dashboards in {output} are up to date")
        return
    for path in write(rendered, output):
        click.echo(str(path))


def _app_dashboards(modules: tuple[str, ...]) -> list[Any]:
    import sys

    from rayobs.dashboards._app import NoHandlesError, app_dashboard, import_handles

    # `python -m`-like behaviour: modules next to where the user stands import.
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")
    out = []
    for name in modules:
        try:
            specs = import_handles(name)
        except NoHandlesError as exc:
            fail(str(exc))
        except ImportError as exc:
            fail(f"cannot import {name!r}: {exc}")
        out.append(app_dashboard(name, specs))
    return out


@dashboards.command(name="import")
@click.option("--url", required=True, help="Grafana's base URL, e.g. http://127.0.0.1:3000.")
@click.option("--folder", metavar="NAME", help="Folder title; created when missing.")
@click.option("--overwrite", is_flag=True, help="Replace dashboards that exist and differ.")
@click.option(
    "--timeout", default=10.0, show_default=True, help="Seconds to wait for each request."
)
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(
    url: str, folder: str | None, overwrite: bool, timeout: float, files: tuple[Path, ...]
) -> None:
    """Create or update dashboards in Grafana (FILES, or the shipped ones).

    Credentials come from the environment only: GRAFANA_TOKEN (a service account
    token), GRAFANA_TOKEN_FILE (a file holding one), or GRAFANA_USER and
    GRAFANA_PASSWORD. Running it again changes nothing unless a dashboard changed.
    """
    _need("grafana_client", "grafana-client", "grafana")
    from rayobs.dashboards._grafana import (
        GrafanaImportError,
        credential_from_env,
        import_dashboards,
    )

    models = [_load(path) for path in files] if files else _shipped_models()
    try:
        results = import_dashboards(
            url, models, folder, overwrite, credential_from_env(), timeout=timeout
        )
    except GrafanaImportError as exc:
        fail(str(exc))
    for result in results:
        click.echo(f"{result.outcome.value:9}  {result.uid}  {result.title}")


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        fail(f"cannot read dashboard {path}: {exc}")
    if not isinstance(data, dict) or "panels" not in data:
        fail(f"{path} is not a Grafana dashboard JSON model")
    return data


def _shipped() -> Any:
    _need("grafana_foundation_sdk", "grafana-foundation-sdk", "grafana")
    from rayobs.dashboards._export import render_all, shipped

    return render_all(shipped())


def _shipped_models() -> list[dict[str, Any]]:
    return [r.data for r in _shipped()]


@dashboards.command()
@click.argument("name")
@click.option("--prometheus", "prometheus_url", required=True, help="Prometheus base URL.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="PNG file to write.",
)
@click.option("--since", default="15m", show_default=True, help="Time range up to now.")
@click.option(
    "--scrape-interval",
    default="15s",
    show_default=True,
    help="Prometheus' scrape interval ($__rate_interval is derived from it, as in Grafana).",
)
@click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="NAME=VALUE",
    help="A template variable's value (a regex); unset ones are All (.*).",
)
def preview(
    name: str,
    prometheus_url: str,
    output: Path,
    since: str,
    scrape_interval: str,
    variables: tuple[str, ...],
) -> None:
    """Render a dashboard's panels from Prometheus into one PNG, without Grafana.

    NAME is a shipped dashboard (tasks-actors, memory-incidents,
    app-rayobs-demo-workload), its uid, or a dashboard JSON file.
    """
    _need("matplotlib", "matplotlib", "profiling")
    from rayobs.dashboards._plot import plot
    from rayobs.dashboards._preview import Prometheus, PrometheusError, Window, evaluate
    from rayobs.dashboards._read import read

    chosen = {}
    for item in variables:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"--var takes NAME=VALUE, got {item!r}")
        chosen[key] = value
    view = read(_find(name))
    server = Prometheus(prometheus_url)
    try:
        server.get("query", query="1")
    except PrometheusError as exc:
        fail(str(exc))
    window = Window.last(_seconds(since), scrape_interval=_seconds(scrape_interval))
    panels = evaluate(view, server, window, chosen)
    plot(view.title, panels, output, f"{prometheus_url}, last {since}")
    charted = [p for p in panels if p.panel.type != "row"]
    empty = [p.panel.title for p in charted if p.empty]
    click.echo(f"wrote {output} ({len(charted)} panels, {len(empty)} without data)")


def _find(name: str) -> dict[str, Any]:
    path = Path(name)
    if path.suffix == ".json" or path.is_file():
        if not path.is_file():
            fail(f"no such dashboard file: {path}")
        return _load(path)
    rendered = _shipped()
    stems = [r.file_name.removesuffix(".json") for r in rendered]
    for stem, item in zip(stems, rendered, strict=True):
        if name in (stem, item.data.get("uid")):
            data: dict[str, Any] = item.data
            return data
    fail(f"no dashboard named {name!r}: use one of {', '.join(stems)}, or a JSON file")
