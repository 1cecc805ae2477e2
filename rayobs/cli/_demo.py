"""``rayobs demo``: an instrumented workload on a local Ray, and what rayobs recorded."""

from __future__ import annotations

import importlib.util

import click

from rayobs.cli._errors import missing_extra


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:g}"


@click.command()
@click.option(
    "--wait", "wait_s", default=30.0, show_default=True, help="Seconds to wait for exports."
)
@click.option(
    "--preview",
    metavar="PNG",
    help="Also render the Tasks & actors dashboard from the demo's Prometheus into PNG "
    "(after 20 s more calls, so rates show). '{name}' in PNG: one file per shipped dashboard.",
)
def demo(wait_s: float, preview: str | None) -> None:
    """Run an instrumented workload on a local Ray and show what rayobs sees.

    Starts Ray on 127.0.0.1 in this process, runs the bank-actor and failing-division
    workload, reads the metrics back from Ray's endpoint (and from a local Prometheus
    when the ``prometheus`` binary is installed), prints a table and shuts Ray down.
    The preview needs that Prometheus too: without it, one line says it was skipped.
    """
    # Only look for Ray here: it must be imported after the demo has set the
    # environment it reads at import time (loopback, auth token).
    if importlib.util.find_spec("ray") is None:
        missing_extra("ray", "ray")
    from rayobs.demo.runner import run_demo

    def progress(line: str) -> None:
        click.echo(f"· {line}", err=True)

    step = None
    if preview:
        for module, package, extra in (
            ("matplotlib", "matplotlib", "profiling"),
            ("grafana_foundation_sdk", "grafana-foundation-sdk", "grafana"),
        ):
            if importlib.util.find_spec(module) is None:
                missing_extra(package, extra)
        from rayobs.demo.preview import PreviewStep

        step = PreviewStep(preview, progress=progress)
    result = run_demo(progress, wait_s=wait_s, before_stop=step)
    header = ("metric (as exported)", "tags", "expected", "ray endpoint", "prometheus")
    rows = [
        (
            r.name,
            ",".join(f"{k}={v}" for k, v in r.tags) or "-",
            _fmt(r.expected),
            _fmt(r.endpoint),
            _fmt(r.prometheus),
        )
        for r in result.rows
    ]
    widths = [max(len(str(x[i])) for x in [header, *rows]) for i in range(len(header))]
    click.echo()
    for i, line in enumerate([header, *rows]):
        cells = (str(cell).ljust(w) for cell, w in zip(line, widths, strict=True))
        click.echo("  ".join(cells).rstrip())
        if i == 0:
            click.echo("  ".join("-" * w for w in widths))
    click.echo()
    click.echo(f"Ray endpoint: {result.metrics_url} (summed over workers)")
    click.echo(f"Prometheus:   {result.prometheus_note}")
    if step is not None:
        if step.written:
            click.echo(f"Preview:      wrote {', '.join(map(str, step.written))}")
        else:
            why = result.prometheus_missing or "the demo stopped before it"
            click.echo(f"Preview:      skipped, {preview} not written: {why}")
    verdict = "every expected series arrived" if result.matches else "SOME SERIES ARE MISSING"
    click.echo(f"{verdict}; demo took {result.seconds:.1f} s")
    if not result.matches:
        raise SystemExit(1)
