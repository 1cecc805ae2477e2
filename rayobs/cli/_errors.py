"""The CLI's one error path: a one-line message and exit code 2, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

EXIT_BAD_INPUT = 2


class CliError(click.ClickException):
    """Bad input or an unusable environment: printed as ``rayobs: error: ...``, exit 2."""

    exit_code = EXIT_BAD_INPUT

    def show(self, file: Any = None) -> None:
        click.echo(f"rayobs: error: {self.format_message()}", err=True)


def fail(message: str) -> NoReturn:
    """Stop the command with a one-line message and exit code 2."""
    raise CliError(message)


def missing_extra(package: str, extra: str) -> NoReturn:
    fail(f"this command needs {package}: pip install 'rayobs[{extra}]'")


def one_line_errors(invoke: Callable[[], Any]) -> NoReturn:
    """Call ``invoke`` (a click ``main`` in non-standalone mode) and exit the process.

    Every error is one line on stderr, never a traceback: usage errors of any
    command (unknown option, missing argument, bad choice) become
    ``rayobs: error: ...`` with exit code 2, like every other bad input, instead
    of click's multi-line usage block.
    """
    try:
        result = invoke()
    except SystemExit:
        raise
    except click.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # plain `rayobs`: the help, not an error
            click.echo(exc.format_message())
            sys.exit(0)
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        click.echo(f"rayobs: error: {exc.format_message()}{hint}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, click.Abort):
        click.echo("rayobs: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # last resort: the message, not a traceback
        click.echo(f"rayobs: error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    # click returns the exit code of ctx.exit(n) (and of --help/--version); commands
    # that return normally exit 0
    sys.exit(result if isinstance(result, int) else 0)
