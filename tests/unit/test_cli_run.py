"""``rayobs run`` around small Python programs: auto mode on, status, signals, bad input."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rayobs.cli._run import Exporter

RUN = [sys.executable, "-m", "rayobs", "run"]


def run(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [*RUN, *args], capture_output=True, text=True, timeout=60, **kw
    )


def py(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


REPORT = """
    import os, sys
    import rayobs.auto
    print(rayobs.auto.is_instrumented(), "ray" in sys.modules, os.environ.get("RAYOBS_TRACE"),
          os.environ.get("RAYOBS_TRACE_EXPORTER"))
"""


def test_the_program_starts_in_auto_mode_without_importing_ray() -> None:
    out = run("--", *py(REPORT))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False", "None", "None"]
    # rayobs was imported before the program's first line, by the start-up directory
    first = run("--", *py("import sys; print('rayobs' in sys.modules)"))
    assert first.stdout.strip() == "True", first.stderr


def test_children_start_in_auto_mode_too() -> None:
    code = f"""
        import subprocess, sys
        subprocess.run([sys.executable, "-c", {textwrap.dedent(REPORT)!r}], check=True)
    """
    out = run("--", *py(code))
    assert out.stdout.split() == ["True", "False", "None", "None"], out.stderr


def test_trace_and_exporter(tmp_path: Path) -> None:
    out = run("--exporter", f"jsonl:{tmp_path}", "--", *py(REPORT))
    assert out.stdout.split() == ["True", "False", "1", f"jsonl:{tmp_path}"], out.stderr
    traced = run("--trace", "--", *py(REPORT))
    assert traced.stdout.split() == ["True", "False", "1", "None"], traced.stderr
    # the job's workers run in other directories: a relative one is made absolute
    relative = run("--exporter", "jsonl:spans", "--", *py(REPORT), cwd=tmp_path)
    assert relative.stdout.split()[3] == f"jsonl:{tmp_path / 'spans'}", relative.stderr


@pytest.mark.parametrize("status", [0, 3])
def test_exit_status_input_and_output_pass_through(status: int) -> None:
    code = f"""
        import sys
        print("out:" + sys.stdin.readline().strip())
        print("err", file=sys.stderr)
        sys.exit({status})
    """
    out = run("--", *py(code), input="hello\n")
    assert (out.returncode, out.stdout, out.stderr) == (status, "out:hello\n", "err\n")


def test_signals_are_passed_on_and_rayobs_dies_of_the_same() -> None:
    code = """
        import time
        print("ready", flush=True)
        time.sleep(60)
    """
    proc = subprocess.Popen([*RUN, "--", *py(code)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == -signal.SIGTERM


def test_another_sitecustomize_still_runs(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text("import os\nos.environ['THEIRS'] = 'ran'\n")
    theirs = [str(tmp_path), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in theirs if p)}
    code = """
        import os, rayobs.auto
        print(os.environ.get("THEIRS"), rayobs.auto.is_instrumented())
    """
    out = run("--", *py(code), env=env)
    assert out.stdout.split() == ["ran", "True"], out.stderr


def _installed(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("exporter", list(Exporter))
def test_every_exporter_kind_is_accepted(exporter: Exporter, tmp_path: Path) -> None:
    spec = f"{exporter.value}:{tmp_path}" if exporter.argument else exporter.value
    out = run("--exporter", spec, "--", *py(REPORT))
    if exporter is Exporter.OTLP and not _installed("opentelemetry.exporter.otlp"):
        # not an extra of rayobs: refused up front, with how to get it
        assert out.returncode == 2
        assert out.stderr == (
            "rayobs: error: --exporter otlp needs opentelemetry-exporter-otlp: "
            "pip install opentelemetry-exporter-otlp\n"
        )
        return
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[2:] == ["1", spec]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Missing argument 'COMMAND...'"),
        (["--exporter", "zipkin", "--", "true"], "unknown kind 'zipkin'; use one of jsonl:DIR"),
        (["--exporter", "jsonl", "--", "true"], "jsonl needs a DIR: jsonl:DIR"),
        (["--exporter", "jsonl:", "--", "true"], "jsonl needs a DIR"),
        (["--exporter", "console:x", "--", "true"], "console takes no argument"),
        (["--", "no-such-program-rayobs"], "cannot run no-such-program-rayobs: No such file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    out = run(*args)
    assert out.returncode == 2 and out.stdout == ""
    [line] = out.stderr.splitlines()
    assert line.startswith("rayobs: error: ") and message in line, line
