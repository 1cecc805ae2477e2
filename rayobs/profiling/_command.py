"""What ``rayobs launch`` will execute: the user's command, resolved.

For ``--cpu`` the program must run inside a Python interpreter under cProfile.
A console script such as ``ray`` is a small wrapper file whose shebang names
the interpreter; ``python job.py``, ``python -m pkg`` and ``python -c CODE``
name it directly. Each is turned into "that interpreter, with the user's
interpreter flags, running ``_cprofile_run.py``", which then runs the program
as Python would have (console scripts through their entry point).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rayobs._errors import RayobsError

RUNNER = Path(__file__).resolve().with_name("_cprofile_run.py")

_PYTHON_NAME = re.compile(r"^python(\d+(\.\d+)*)?[tw]?$")
# Interpreter options that take a value (``-W ignore``, ``-X dev``, ``-Wignore``).
_VALUE_OPTIONS = frozenset("WX")


class LaunchError(RayobsError, ValueError):
    """The command cannot be launched as asked (not found, not Python for ``--cpu``, ...)."""


@dataclass(frozen=True)
class PythonProgram:
    """A Python program: which interpreter, its flags, and how the program is named.

    ``kind`` is ``script``, ``module``, ``code`` or ``console`` (see ``_cprofile_run``).
    """

    interpreter: str
    flags: tuple[str, ...]
    kind: str
    target: str
    args: tuple[str, ...]

    def under_cprofile(self, output: Path) -> tuple[str, ...]:
        """The argv that runs this program under cProfile, writing stats to ``output``."""
        return (
            self.interpreter,
            *self.flags,
            str(RUNNER),
            "--output",
            str(output),
            "--kind",
            self.kind,
            "--",
            self.target,
            *self.args,
        )


@dataclass(frozen=True)
class Command:
    """The user's command with its executable found on ``PATH``.

    ``python`` is set when the command is a Python program (required by ``--cpu``);
    ``label`` is a short name for output files, e.g. ``ray-start`` or ``job``.
    """

    argv: tuple[str, ...]
    executable: str
    python: PythonProgram | None
    label: str


def resolve(argv: Sequence[str]) -> Command:
    """Find the executable of ``argv`` and recognise Python programs.

    >>> cmd = resolve(["python", "-c", "print(1)"])
    >>> cmd.python.kind, cmd.python.target, cmd.label
    ('code', 'print(1)', 'python-c')
    """
    if not argv:
        raise LaunchError("no command given: rayobs launch [OPTIONS] -- COMMAND [ARGS...]")
    name, args = argv[0], tuple(argv[1:])
    executable = _find(name)
    if _is_python(executable):
        python = _python_invocation(executable, args)
    else:
        python = _script(executable, args)
    return Command(tuple(argv), executable, python, _label(executable, python))


def _find(name: str) -> str:
    if os.sep in name:
        if not os.path.isfile(name):
            raise LaunchError(f"command not found: {name}")
        return name
    found = shutil.which(name)
    if found is None:
        raise LaunchError(f"command not found on PATH: {name}")
    return found


def _is_python(path: str) -> bool:
    if _PYTHON_NAME.match(os.path.basename(path)):
        return True
    try:
        return os.path.samefile(path, sys.executable)
    except OSError:
        return False


def _python_invocation(interpreter: str, args: tuple[str, ...]) -> PythonProgram | None:
    """Split ``python [flags] (-m mod | -c code | script) [args]``; ``None`` if no program."""
    flags: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            if i + 1 < len(args):
                return PythonProgram(
                    interpreter, tuple(flags), "script", args[i + 1], args[i + 2 :]
                )
            return None
        if arg == "-" or not arg.startswith("-"):
            if arg == "-":
                raise LaunchError("--cpu cannot profile a program read from stdin ('python -')")
            return PythonProgram(interpreter, tuple(flags), "script", arg, args[i + 1 :])
        if arg.startswith("--"):
            raise LaunchError(f"--cpu cannot profile 'python {arg}': it runs no program")
        # A cluster of short options: -u, -uB, -X dev, -Xdev, -m pkg, -mpkg, -Bc CODE.
        for j, letter in enumerate(arg[1:], start=1):
            rest = arg[j + 1 :]
            if letter in "mc":
                value, i = (rest, i) if rest else (_value_of(args, i, letter), i + 1)
                kind = "module" if letter == "m" else "code"
                if arg[1:j]:
                    flags.append(arg[:j])
                return PythonProgram(interpreter, tuple(flags), kind, value, args[i + 1 :])
            if letter in _VALUE_OPTIONS:
                if rest:
                    flags.append(arg)
                else:
                    flags.extend([arg, _value_of(args, i, letter)])
                    i += 1
                break
        else:
            flags.append(arg)
        i += 1
    return None


def _value_of(args: tuple[str, ...], i: int, letter: str) -> str:
    if i + 1 >= len(args):
        raise LaunchError(f"python option -{letter} needs a value")
    return args[i + 1]


def _script(path: str, args: tuple[str, ...]) -> PythonProgram | None:
    """A file run directly: Python if its shebang names a Python (or it ends in ``.py``)."""
    interpreter, flags = _shebang_python(path)
    if interpreter is None and path.endswith(".py"):
        interpreter, flags = sys.executable, ()
    if interpreter is None:
        return None
    kind = "script" if path.endswith(".py") else "console"
    return PythonProgram(interpreter, flags, kind, path, args)


def _shebang_python(path: str) -> tuple[str | None, tuple[str, ...]]:
    """The Python interpreter a script's first line names, with its flags."""
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
    except OSError:
        return None, ()
    lines = head.split(b"\n")
    if not lines[0].startswith(b"#!"):
        return None, ()
    words = lines[0][2:].decode(errors="replace").split()
    # pip writes this wrapper when the interpreter path is too long for a shebang:
    #   #!/bin/sh
    #   '''exec' /long/path/python "$0" "$@"
    if words and words[0] == "/bin/sh" and len(lines) > 1 and lines[1].startswith(b"'''exec' "):
        words = lines[1].decode(errors="replace").split()[1:2]
    if words and os.path.basename(words[0]) == "env":
        words = [w for w in words[1:] if not w.startswith("-")]
        if not words:
            return None, ()
        found = shutil.which(words[0])
        if found is None:
            return None, ()
        words[0] = found
    if not words or not _PYTHON_NAME.match(os.path.basename(words[0])):
        return None, ()
    return words[0], tuple(words[1:])


def _label(executable: str, python: PythonProgram | None) -> str:
    base = os.path.basename(executable)
    if python is None or python.kind == "console":
        sub = next((a for a in (python.args if python else ()) if not a.startswith("-")), None)
        label = f"{base}-{sub}" if sub and python is not None else base
    elif python.kind == "script":
        label = Path(python.target).stem
    elif python.kind == "module":
        label = python.target
    else:
        label = "python-c"
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label)[:40] or "program"
