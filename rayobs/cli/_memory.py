"""``rayobs memory``: what holds memory in a running cluster; snapshots and their diff.

``rayobs memory [OPTIONS]`` dumps the references (the group's own action),
``rayobs memory snapshot -o FILE`` saves one, ``rayobs memory diff A B``
compares two. Ray is imported only to read a cluster; what Ray's native client
writes to file descriptor 2 while it retries is kept off the terminal so that a
failure reads as one line.
"""

from __future__ import annotations

from collections.abc import Callable

import click
from click.core import ParameterSource

from rayobs._cluster import ClusterUnavailable, native_stderr_silenced
from rayobs.cli._errors import fail
from rayobs.cli._options import (
    CONTEXT_SETTINGS,
    Command,
    EnumChoice,
    OutputFormat,
    address_option,
    format_option,
    timeout_option,
)
from rayobs.memory._analysis import GroupBy, SortBy, analyze
from rayobs.memory._diff import diff_snapshots
from rayobs.memory._hints import LARGE_DRIVER_REF_BYTES, leak_hints
from rayobs.memory._model import MemorySnapshot
from rayobs.memory._render import (
    diff_to_dict,
    diff_to_text,
    report_to_dict,
    report_to_text,
    stats_to_dict,
    stats_to_text,
    to_json,
)
from rayobs.memory._snapshot_io import SnapshotFileError, load_snapshot, snapshot_to_dict
from rayobs.memory._units import Units, format_bytes, parse_size


def _units_option(help: str) -> Callable[[Command], Command]:
    return click.option(
        "--units",
        type=EnumChoice(Units),
        default=Units.AUTO.value,
        show_default=True,
        help=help,
    )


def _top_option(help: str) -> Callable[[Command], Command]:
    return click.option("--top", type=click.IntRange(min=1), metavar="N", help=help)


def _output_option(function: Command) -> Command:
    return click.option("--output", "-o", metavar="FILE", help="Write to FILE instead of stdout.")(
        function
    )


def _collect(address: str | None, timeout: float) -> MemorySnapshot:
    from rayobs.memory._collect import collect_snapshot

    try:
        with native_stderr_silenced():
            return collect_snapshot(address, timeout=timeout)
    except ClusterUnavailable as exc:  # RayInternalsChanged included
        fail(str(exc))


def _emit(text: str, output: str | None) -> None:
    if output is None or output == "-":
        click.echo(text)
        return
    try:
        with open(output, "w", encoding="utf-8") as sink:
            sink.write(text + "\n")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")


@click.group("memory", invoke_without_command=True, context_settings=CONTEXT_SETTINGS)
@address_option()
@click.option(
    "--group-by",
    type=EnumChoice(GroupBy),
    default=GroupBy.NODE.value,
    show_default=True,
    help="Group references by node, owner process, call site or reference type.",
)
@click.option(
    "--sort-by",
    type=EnumChoice(SortBy),
    default=SortBy.SIZE.value,
    show_default=True,
    help="Order groups and references by bytes, reference count or pid.",
)
@_units_option("Units of the table's sizes (decimal: 1 KB = 1000 B). JSON is always in bytes.")
@_top_option("List at most N references per group.")
@click.option("--stats-only", is_flag=True, help="Only the object store stats.")
@click.option(
    "--large-ref",
    metavar="SIZE",
    default=f"{LARGE_DRIVER_REF_BYTES // 10**6}MB",
    show_default=True,
    help="Size from which a driver's reference is reported as large (100MB, 1.5GB, 4096).",
)
@format_option(table_alias=True)
@_output_option
@timeout_option()
@click.pass_context
def memory(
    ctx: click.Context,
    address: str | None,
    group_by: str,
    sort_by: str,
    units: str,
    top: int | None,
    stats_only: bool,
    large_ref: str,
    output_format: str,
    output: str | None,
    timeout: float,
) -> None:
    """Show every object reference held in a running Ray cluster, and what may leak.

    Like `ray memory`, without `ray.init`: one record per reference (object id,
    size, reference type, holding process, owner, call site when recorded, task
    status), object store stats, and leak hints: references whose owner died,
    objects captured in other objects, large driver references, the call sites
    holding the most bytes. Token authentication follows RAY_AUTH_MODE,
    RAY_AUTH_TOKEN and RAY_AUTH_TOKEN_PATH.

    \b
    Examples:
      rayobs memory --address 127.0.0.1:6379
      rayobs memory --group-by callsite --top 5 --format json -o now.json
      rayobs memory snapshot -o before.json   (later: -o after.json)
      rayobs memory diff before.json after.json
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"address": address, "timeout": timeout}
        _only_shared_options(ctx)
        return
    try:
        large_bytes = parse_size(large_ref)
    except ValueError as exc:
        fail(f"--large-ref: {exc}")
    snapshot = _collect(address, timeout)
    unit = Units(units)
    as_json = OutputFormat(output_format) is OutputFormat.JSON
    if stats_only:
        text = to_json(stats_to_dict(snapshot)) if as_json else stats_to_text(snapshot, unit)
        _emit(text, output)
        return
    report = analyze(snapshot, GroupBy(group_by), SortBy(sort_by), top)
    hints = leak_hints(snapshot, large_bytes=large_bytes)
    if as_json:
        _emit(to_json(report_to_dict(report, hints)), output)
    else:
        _emit(report_to_text(report, hints, unit), output)


# Options that `snapshot` also accepts before its name (`rayobs memory --address A snapshot`).
_SHARED = {"address", "timeout"}


def _only_shared_options(ctx: click.Context) -> None:
    """Dump options before a subcommand would be silently ignored: refuse them."""
    allowed = _SHARED if ctx.invoked_subcommand == "snapshot" else set()
    misplaced = [
        param.opts[-1] if param.opts[-1].startswith("--") else param.opts[0]
        for param in ctx.command.params
        if param.name not in allowed
        and param.name is not None
        and ctx.get_parameter_source(param.name) is not ParameterSource.DEFAULT
    ]
    if misplaced:
        fail(
            f"{', '.join(misplaced)} does not apply to `rayobs memory {ctx.invoked_subcommand}`: "
            f"see `rayobs memory {ctx.invoked_subcommand} --help`"
        )


@memory.command("snapshot", context_settings=CONTEXT_SETTINGS)
@click.option(
    "--output",
    "-o",
    metavar="FILE",
    required=True,
    help="Where to write the snapshot ('-': stdout).",
)
@address_option()
@timeout_option()
@click.pass_context
def snapshot_command(ctx: click.Context, output: str, address: str | None, timeout: float) -> None:
    """Save every reference and the store stats to a JSON file, for `rayobs memory diff`.

    \b
    Example:
      rayobs memory snapshot -o before.json
    """
    shared = ctx.obj or {}
    if address is None:
        address = shared.get("address")
    if ctx.get_parameter_source("timeout") is ParameterSource.DEFAULT and "timeout" in shared:
        timeout = shared["timeout"]
    snapshot = _collect(address, timeout)
    _emit(to_json(snapshot_to_dict(snapshot)), output)
    if output != "-":
        total = sum(r.size_bytes or 0 for r in {r.object_id: r for r in snapshot.refs}.values())
        click.echo(
            f"wrote {len(snapshot.refs)} references ({format_bytes(total)}) to {output}",
            err=True,
        )


@memory.command("diff", context_settings=CONTEXT_SETTINGS)
@click.argument("before", metavar="A.json")
@click.argument("after", metavar="B.json")
@_units_option("Units of the table's sizes. JSON is always in bytes.")
@_top_option("Show at most N rows per breakdown.")
@format_option(table_alias=True)
@_output_option
def diff_command(
    before: str,
    after: str,
    units: str,
    top: int | None,
    output_format: str,
    output: str | None,
) -> None:
    """Show what grew from snapshot A to snapshot B.

    Bytes and references by call site, reference type and owner; objects new
    and freed; store use. Snapshots come from `rayobs memory snapshot` (or
    `rayobs memory --format json` without --top).

    \b
    Example:
      rayobs memory diff before.json after.json --top 10
    """
    try:
        old, new = load_snapshot(before), load_snapshot(after)
    except SnapshotFileError as exc:
        fail(str(exc))
    changes = diff_snapshots(old, new)
    if OutputFormat(output_format) is OutputFormat.JSON:
        _emit(to_json(diff_to_dict(changes, top)), output)
    else:
        _emit(diff_to_text(changes, Units(units), top), output)
