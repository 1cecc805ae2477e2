"""Resolving what ``rayobs launch`` runs, and the cProfile runner it runs it with."""

from __future__ import annotations

import marshal
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rayobs.profiling._command import RUNNER, LaunchError, resolve

BIN = Path(sys.executable).parent


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.mark.parametrize(
    ("argv", "flags", "kind", "target", "args"),
    [
        (["python", "job.py", "--x"], (), "script", "job.py", ("--x",)),
        (["python", "-u", "-X", "dev", "job.py"], ("-u", "-X", "dev"), "script", "job.py", ()),
        (["python", "-Wignore", "-m", "pkg.mod", "a"], ("-Wignore",), "module", "pkg.mod", ("a",)),
        (["python", "-mpkg", "a"], (), "module", "pkg", ("a",)),
        (["python", "-c", "print(1)", "a"], (), "code", "print(1)", ("a",)),
        (["python", "-Bc", "print(1)"], ("-B",), "code", "print(1)", ()),
        (["python", "-u", "--", "-odd.py"], ("-u",), "script", "-odd.py", ()),
    ],
)
def test_python_invocations(
    argv: list[str], flags: tuple[str, ...], kind: str, target: str, args: tuple[str, ...]
) -> None:
    python = resolve([sys.executable, *argv[1:]]).python
    assert python is not None
    assert (python.flags, python.kind, python.target, python.args) == (flags, kind, target, args)
    assert python.interpreter == sys.executable


def test_console_script_runs_with_the_interpreter_of_its_shebang() -> None:
    command = resolve([str(BIN / "ray"), "start", "--head"])
    assert command.python is not None
    assert command.python.kind == "console"
    assert Path(command.python.interpreter).parent == BIN
    assert command.label == "ray-start"
    argv = command.python.under_cprofile(Path("/tmp/x.prof"))
    assert argv[1:3] == (str(RUNNER), "--output")
    assert argv[-4:] == ("--", command.executable, "start", "--head")


def test_env_and_long_path_shebangs(tmp_path: Path) -> None:
    env_script = _script(tmp_path / "tool", "#!/usr/bin/env python3\nprint('hi')\n")
    python = resolve([str(env_script)]).python
    assert python is not None and Path(python.interpreter).name == "python3"
    # pip's wrapper when the interpreter path is too long for a shebang line
    long_script = _script(
        tmp_path / "longtool",
        f"#!/bin/sh\n'''exec' {sys.executable} \"$0\" \"$@\"\n' '''\nprint('hi')\n",
    )
    python = resolve([str(long_script)]).python
    assert python is not None and python.interpreter == sys.executable


def test_non_python_programs_have_no_python_side(tmp_path: Path) -> None:
    assert resolve(["sleep", "1"]).python is None
    shell = _script(tmp_path / "run.sh", "#!/bin/sh\necho hi\n")
    assert resolve([str(shell)]).python is None
    assert resolve(["python"]).python is None  # an interactive interpreter runs no program


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "no command given"),
        (["no-such-program-rayobs"], "command not found on PATH"),
        (["./missing/prog"], "command not found"),
        (["python", "-"], "stdin"),
        (["python", "-c"], "needs a value"),
        (["python", "--version"], "runs no program"),
    ],
)
def test_bad_commands(argv: list[str], message: str) -> None:
    with pytest.raises(LaunchError, match=message):
        resolve(argv)


# ---- the runner: python _cprofile_run.py --output F --kind K -- TARGET ARGS ----


def run(
    kind: str, target: str, *args: str, out: Path, **kw: object
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RUNNER), "--output", str(out), "--kind", kind, "--", target, *args],
        capture_output=True,
        text=True,
        timeout=60,
        **kw,  # type: ignore[call-overload]
    )


def functions(path: Path) -> set[str]:
    return {name for (_file, _line, name) in marshal.loads(path.read_bytes())}


def test_code_keeps_exit_status_argv_and_path(tmp_path: Path) -> None:
    out = tmp_path / "c.prof"
    code = "import sys\ndef leaf(): return sys.argv\nprint(leaf(), repr(sys.path[0]))\nsys.exit(3)"
    result = run("code", code, "a", "b", out=out)
    assert result.returncode == 3, result.stderr
    assert result.stdout.strip() == "['-c', 'a', 'b'] ''"
    assert "leaf" in functions(out)
    assert "_run" not in functions(out)  # the runner itself is not in the profile


def test_script_exception_prints_only_the_programs_traceback(tmp_path: Path) -> None:
    script = tmp_path / "boom.py"
    script.write_text("import sys\nprint(__name__, sys.argv[1:])\nraise ValueError('boom')\n")
    out = tmp_path / "s.prof"
    result = run("script", str(script), "x", out=out)
    direct = subprocess.run([sys.executable, str(script), "x"], capture_output=True, text=True)
    assert result.returncode == direct.returncode == 1
    assert result.stdout == direct.stdout == "__main__ ['x']\n"
    assert result.stderr == direct.stderr
    assert out.stat().st_size > 0


def test_module_and_console_script_entry_point(tmp_path: Path) -> None:
    out = tmp_path / "m.prof"
    result = run("module", "json.tool", "--help", out=out)
    assert result.returncode == 0 and "json.tool" in result.stdout
    out = tmp_path / "e.prof"
    result = run("console", str(BIN / "mprof"), "--version", out=out)
    direct = subprocess.run([str(BIN / "mprof"), "--version"], capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (direct.returncode, direct.stdout)
    # mprof's entry point, mprof:main, ran through importlib.metadata and was profiled
    assert any(
        f == "main" and file.endswith("mprof.py") for file, _, f in marshal.loads(out.read_bytes())
    )


def test_sigterm_dumps_then_dies_of_sigterm(tmp_path: Path) -> None:
    out = tmp_path / "t.prof"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(RUNNER),
            "--output",
            str(out),
            "--kind",
            "code",
            "--",
            "import time\ndef warm_up():\n    return sum(range(1000))\nwarm_up()\n"
            "print('ready', flush=True)\ntime.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == -signal.SIGTERM
    assert "warm_up" in functions(out)


def test_os_exit_still_dumps(tmp_path: Path) -> None:
    out = tmp_path / "x.prof"
    result = run("code", "import os\ndef leaving():\n    os._exit(4)\nleaving()", out=out)
    assert result.returncode == 4
    assert "leaving" in functions(out)


def test_sigint_is_a_keyboard_interrupt_as_without_the_runner(tmp_path: Path) -> None:
    out = tmp_path / "i.prof"
    code = "import os, signal\nos.kill(os.getpid(), signal.SIGINT)\nimport time; time.sleep(5)"
    start = time.monotonic()
    result = run("code", code, out=out)
    assert result.returncode == -signal.SIGINT
    assert result.stderr.splitlines()[-1] == "KeyboardInterrupt"
    assert "_cprofile_run" not in result.stderr
    assert time.monotonic() - start < 5
    assert out.exists()
    assert os.path.getsize(out) > 0
