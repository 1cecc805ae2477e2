"""`rayobs demo --preview` (what `make demo` runs) end to end: every expected series, the
Prometheus column, the dashboard preview; and, without Prometheus, one line saying why not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import requires

pytestmark = pytest.mark.ray

NEEDLES = (
    "ray_demo_failed_withdrawals_total",
    "ray_rayobs_calls_total",
    "exception=ZeroDivisionError",
    "name=Bank.withdraw,outcome=error",
)


def demo(png: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rayobs", "demo", "--wait", "45", "--preview", str(png)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )


def table(stdout: str) -> list[dict[str, str]]:
    """The demo's table as rows of {column: cell}, cut where the dashes under the header are."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("metric (as exported)"))
    spans, at = [], 0
    for dashes in lines[start + 1].split("  "):
        spans.append((at, at + len(dashes)))
        at += len(dashes) + 2
    cut = lambda line: [line[a:b].strip() for a, b in spans]  # noqa: E731
    header = cut(lines[start])
    body = lines[start + 2 : lines.index("", start)]
    return [dict(zip(header, cut(line), strict=True)) for line in body]


def test_demo_fills_the_prometheus_column_and_writes_the_preview(tmp_path: Path) -> None:
    requires.program("prometheus", requires.DEBIAN_PROMETHEUS)
    png = tmp_path / "out" / "demo-dashboard.png"
    out = demo(png, dict(os.environ))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "every expected series arrived" in out.stdout
    assert all(needle in out.stdout for needle in NEEDLES)
    rows = [r for r in table(out.stdout) if r["expected"] != "-"]
    assert rows and [r["prometheus"] for r in rows] == [r["expected"] for r in rows]
    assert f"Preview:      wrote {png}\n" in out.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert "Traceback" not in out.stderr


def _path_without(program: str, shadow: Path) -> str:
    """PATH with every directory holding ``program`` replaced by a copy of links without it."""
    dirs = []
    for i, entry in enumerate(os.environ.get("PATH", "").split(os.pathsep)):
        directory = Path(entry)
        if not (directory / program).exists():
            dirs.append(entry)
            continue
        copy = shadow / str(i)
        copy.mkdir(parents=True)
        for item in directory.iterdir():
            if not item.name.startswith(program):
                (copy / item.name).symlink_to(item)
        dirs.append(str(copy))
    return os.pathsep.join(dirs)


def test_without_prometheus_one_line_says_the_preview_was_skipped(tmp_path: Path) -> None:
    png = tmp_path / "out" / "demo-dashboard.png"
    env = {**os.environ, "PATH": _path_without("prometheus", tmp_path / "bin")}
    out = demo(png, env)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "every expected series arrived" in out.stdout  # the table does not need Prometheus
    assert all(needle in out.stdout for needle in NEEDLES)
    assert {r["prometheus"] for r in table(out.stdout)} == {"-"}
    said = [line for line in (out.stdout + out.stderr).splitlines() if "review" in line]
    assert said == [
        f"Preview:      skipped, {png} not written: no 'prometheus' binary on PATH "
        "(`make demo` installs it as root; else: sudo apt-get install prometheus)"
    ]
    assert not png.exists()
    assert "Traceback" not in out.stderr
