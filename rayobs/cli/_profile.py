"""``rayobs profile report|plot``: read what ``rayobs launch`` and the worker hook recorded."""

from __future__ import annotations

import json
from pathlib import Path

import click

from rayobs.cli._errors import fail, missing_extra
from rayobs.cli._options import CONTEXT_SETTINGS, OutputFormat, format_option


@click.group("profile", context_settings=CONTEXT_SETTINGS)
def profile() -> None:
    """Summarise or plot cProfile stats and mprof memory files."""


@profile.command("report")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--top",
    "-n",
    type=click.IntRange(min=1),
    default=25,
    show_default=True,
    help="Rows to show: functions (cProfile) or child processes (mprof).",
)
@click.option(
    "--sort",
    type=click.Choice(["cumulative", "self", "calls"]),
    default="cumulative",
    show_default=True,
    help="cProfile: order by time inside and below a function, inside only, or calls.",
)
@click.option(
    "--match", metavar="TEXT", help="cProfile: only functions whose location contains TEXT."
)
@format_option()
def report(file: Path, top: int, sort: str, match: str | None, output_format: str) -> None:
    """Summarise FILE: a cProfile stats file or an mprof .dat file (detected from content).

    cProfile: the top functions by cumulative or self time. mprof: duration,
    peak total memory, and each child process's peak.

    \b
    Examples:
      rayobs profile report ray-start-....prof --sort self --top 15
      rayobs profile report ray-start-....prof --match ray/ --format json
      rayobs profile report ray-start-....mprof.dat
    """
    from rayobs.profiling import CpuProfile, ProfileFileError, SortKey, _render, load

    try:
        loaded = load(file)
    except ProfileFileError as exc:
        fail(str(exc))
    as_json = OutputFormat(output_format) is OutputFormat.JSON
    if isinstance(loaded, CpuProfile):
        by = SortKey(sort)
        rows = loaded.top(top, by, match)
        if as_json:
            click.echo(json.dumps(_render.cpu_to_dict(loaded, rows, by, match), indent=2))
        else:
            click.echo(_render.cpu_to_text(loaded, rows, by, match))
    elif as_json:
        click.echo(json.dumps(_render.memory_to_dict(loaded, top), indent=2))
    else:
        click.echo(_render.memory_to_text(loaded, top))


@profile.command("plot")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Image to write (PNG; the suffix picks the format).",
)
@click.option("--title", help="Plot title (default: the profiled command).")
@click.option(
    "--max-children",
    type=click.IntRange(min=0),
    default=8,
    show_default=True,
    help="Child processes drawn as their own line; the rest are summed.",
)
def plot(file: Path, output: Path, title: str | None, max_children: int) -> None:
    """Plot an mprof FILE: total memory, the main process and each child over time.

    \b
    Example:
      rayobs profile plot ray-start-....mprof.dat -o memory.png
    """
    from rayobs.profiling import MemoryProfile, ProfileFileError, load

    try:
        loaded = load(file)
    except ProfileFileError as exc:
        fail(str(exc))
    if not isinstance(loaded, MemoryProfile):
        fail(f"{file}: a cProfile stats file has no memory over time; use `rayobs profile report`")
    try:
        from rayobs.profiling._plot import plot_memory
    except ImportError:
        missing_extra("matplotlib", "profiling")
    if not output.parent.is_dir():
        fail(f"cannot write {output}: directory {output.parent} does not exist")
    try:
        written = plot_memory(loaded, output, title=title, max_children=max_children)
    except (OSError, ValueError) as exc:
        fail(f"cannot write {output}: {getattr(exc, 'strerror', None) or exc}")
    click.echo(f"wrote {written}")
