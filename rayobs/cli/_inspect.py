"""``rayobs inspect``: will Ray be able to pickle this function, class or object?

Exit status: 0 serializable, 1 not serializable (the report says why),
2 bad input (the target cannot be loaded).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import click

from rayobs.cli._errors import fail
from rayobs.cli._options import OutputFormat, format_option
from rayobs.inspect._api import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_NODES,
    inspect_serializability,
    load_cloudpickle,
)
from rayobs.inspect._render import render_json, render_text

EXIT_NOT_SERIALIZABLE = 1
# Loaded file targets stay referenced until the process exits, so what they built
# (pools, threads) is finalized at interpreter exit like a script's, not mid-command.
_LOADED_FILES: list[types.ModuleType] = []
# A file target runs under this module name, absent from sys.modules afterwards:
# like a script run as __main__, its functions and classes pickle by value, but
# its ``if __name__ == "__main__":`` block does not run.
FILE_MODULE_NAME = "__rayobs_inspect_target__"


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


@contextlib.contextmanager
def _on_sys_path(directory: str) -> Iterator[None]:
    """Make ``directory`` importable for the duration, as running a script there would."""
    added = directory not in sys.path
    if added:
        sys.path.insert(0, directory)
    try:
        yield
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(directory)


def _syntax_error(exc: SyntaxError) -> str:
    return f"syntax error in {exc.filename}, line {exc.lineno}: {exc.msg}"


def _load_file(path_text: str) -> types.ModuleType:
    path = Path(path_text)
    if not path.is_file():
        fail(f"no such file: {path_text}")
    try:
        source = path.read_text(encoding="utf-8")
        code = compile(source, str(path), "exec")
    except SyntaxError as exc:
        fail(_syntax_error(exc))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        fail(f"cannot read {path_text}: {_one_line(exc)}")
    module = types.ModuleType(FILE_MODULE_NAME)
    module.__file__ = str(path.resolve())
    _LOADED_FILES.append(module)
    # Registered only while it runs: dataclasses and typing look their module up.
    sys.modules[FILE_MODULE_NAME] = module
    try:
        with _on_sys_path(str(path.resolve().parent)):
            exec(code, module.__dict__)
    except SyntaxError as exc:  # from a module the file imports
        fail(_syntax_error(exc))
    except SystemExit as exc:
        fail(f"running {path_text} called sys.exit({exc.code!r})")
    except Exception as exc:
        fail(f"running {path_text} raised {type(exc).__name__}: {_one_line(exc)}")
    finally:
        sys.modules.pop(FILE_MODULE_NAME, None)
    return module


def _import_module(name: str) -> types.ModuleType:
    if not all(part.isidentifier() for part in name.split(".")):
        fail(f"bad module name {name!r}: expected a dotted Python name or a path to a .py file")
    try:
        # The console script does not put the working directory on sys.path; python -m does.
        with _on_sys_path(os.getcwd()):
            return importlib.import_module(name)
    except SyntaxError as exc:
        fail(_syntax_error(exc))
    except ImportError as exc:
        fail(f"cannot import module {name!r}: {_one_line(exc)}")
    except Exception as exc:
        fail(f"importing {name} raised {type(exc).__name__}: {_one_line(exc)}")


def load_target(target: str) -> tuple[object, types.ModuleType, str]:
    """Resolve ``MODULE:QUALNAME`` or ``path/to/file.py:NAME``: (object, its module, qualname)."""
    source, separator, qualname = target.rpartition(":")
    if not separator or not source or not qualname:
        fail(f"bad target {target!r}: expected MODULE:QUALNAME or path/to/file.py:NAME")
    if not all(part.isidentifier() for part in qualname.split(".")):
        fail(f"bad target {target!r}: {qualname!r} is not a dotted Python name")
    is_file = source.endswith(".py") or "/" in source or os.sep in source
    module = _load_file(source) if is_file else _import_module(source)
    obj: object = module
    for depth, part in enumerate(qualname.split(".")):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            owner = ".".join([source, *qualname.split(".")[:depth]])
            fail(f"{owner} has no attribute {part!r}")
    return obj, module, qualname


@contextlib.contextmanager
def _pickled_by_value(module: types.ModuleType, enabled: bool) -> Iterator[None]:
    if not enabled or module.__name__ not in sys.modules:
        yield  # file targets are not importable: they already pickle by value
        return
    cloudpickle = load_cloudpickle()
    cloudpickle.register_pickle_by_value(module)
    try:
        yield
    finally:
        cloudpickle.unregister_pickle_by_value(module)


@click.command("inspect")
@click.argument("target", metavar="MODULE:QUALNAME")
@format_option("Print a readable tree or a JSON document.")
@click.option(
    "--max-depth",
    type=click.IntRange(min=0),
    default=DEFAULT_MAX_DEPTH,
    show_default=True,
    help="Longest access path to follow.",
)
@click.option(
    "--max-nodes",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_NODES,
    show_default=True,
    help="Most objects to pickle while searching.",
)
@click.option(
    "--by-value",
    is_flag=True,
    help="Pickle the target module's functions and classes by value, as if it were a "
    "script run with python (default for path/to/file.py targets).",
)
@click.option("--color/--no-color", default=False, help="Colour the text report.")
def inspect_command(
    target: str,
    output_format: str,
    max_depth: int,
    max_nodes: int,
    by_value: bool,
    color: bool,
) -> None:
    """Check that Ray can pickle an object, and name every object that stops it.

    The target is MODULE:QUALNAME (e.g. myapp.jobs:process) or path/to/file.py:NAME.
    A file is executed (not its __main__ block) and its functions pickle by value,
    as for a script; functions of an importable module pickle by reference unless
    --by-value is given. Exit status: 0 serializable, 1 not, 2 bad input.

    \b
    Example:
        rayobs inspect jobs.py:special_business
        rayobs inspect myapp.jobs:Bank --by-value --format json
    """
    obj, module, qualname = load_target(target)
    try:
        with _pickled_by_value(module, by_value):
            report = inspect_serializability(
                obj, name=qualname, max_depth=max_depth, max_nodes=max_nodes
            )
    except ImportError as exc:
        fail(_one_line(exc))
    if output_format == OutputFormat.JSON.value:
        click.echo(render_json(report))
    else:
        click.echo(render_text(report, color=color))
    if not report.serializable:
        sys.exit(EXIT_NOT_SERIALIZABLE)
