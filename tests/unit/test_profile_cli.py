"""Reading profiles back: the readers, the renderers and ``rayobs profile report|plot``."""

from __future__ import annotations

import cProfile
import json
import marshal
import subprocess
import sys
from pathlib import Path

import pytest

from rayobs.profiling import CpuProfile, MemoryProfile, ProfileFileError, SortKey, load
from rayobs.profiling._mprof import parse

# Three samples of a command with two children; 22 is a worker that comes and goes.
MPROF = """\
CMDLINE /venv/bin/ray start --head --block
NAME 10 ray-start
MEM 100.000000 1000.0000
CHLD 21 30.000000 1000.0010
NAME 21 raylet
MEM 250.000000 1001.0000
CHLD 21 40.000000 1001.0010
CHLD 22 90.000000 1001.0011
NAME 22 ray::IDLE
MEM 160.000000 1002.0000
CHLD 21 45.000000 1002.0010
CHLD 0 0.000000 1002.0011
"""


def rayobs(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rayobs", "profile", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def mprof_file(tmp_path: Path) -> Path:
    path = tmp_path / "ray.mprof.dat"
    path.write_text(MPROF)
    return path


def _busy_leaf(n: int) -> int:
    return sum(i * i for i in range(n))


def _busy_root() -> int:
    return sum(_busy_leaf(2000) for _ in range(50))


@pytest.fixture
def cprofile_file(tmp_path: Path) -> Path:
    profiler = cProfile.Profile()
    profiler.runcall(_busy_root)
    path = tmp_path / "run.prof"
    profiler.dump_stats(path)
    return path


def test_mprof_totals_main_process_and_children() -> None:
    profile = parse(MPROF, "x.dat")
    assert profile.cmdline == "/venv/bin/ray start --head --block"
    assert profile.total.times == (0.0, 1.0, 2.0)
    assert profile.total.mib == (100.0, 250.0, 160.0)
    assert (profile.main.pid, profile.main.name) == (10, "ray-start")
    assert profile.main.mib == (70.0, 120.0, 115.0)  # total minus the children of each sample
    assert [(c.pid, c.name, c.peak_mib) for c in profile.children] == [
        (22, "ray::IDLE", 90.0),
        (21, "raylet", 45.0),
    ]
    assert profile.duration == 2.0 and profile.samples == 3


def test_cprofile_top_by_each_sort_key(cprofile_file: Path) -> None:
    profile = load(cprofile_file)
    assert isinstance(profile, CpuProfile)
    assert profile.top(1)[0].function == "_busy_root"
    assert profile.top(1, SortKey.CALLS)[0].function == "<genexpr>"
    by_self = [f.function for f in profile.top(3, SortKey.SELF)]
    assert "<genexpr>" in by_self and "_busy_root" not in by_self
    assert [f.function for f in profile.top(10, match="_busy_leaf")] == ["_busy_leaf"]
    assert profile.total_calls > 100_000


def test_report_cprofile_text_and_json(cprofile_file: Path) -> None:
    text = rayobs("report", str(cprofile_file), "--top", "3")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[1].endswith("top 3 by cumulative time")
    assert "(_busy_root)" in lines[4]
    as_json = rayobs("report", str(cprofile_file), "--sort", "self", "--format", "json")
    document = json.loads(as_json.stdout)
    assert document["kind"] == "cprofile" and document["sort"] == "self"
    selfs = [f["self_seconds"] for f in document["functions"]]
    assert selfs == sorted(selfs, reverse=True) and len(selfs) <= 25


def test_report_mprof_text_and_json(mprof_file: Path) -> None:
    text = rayobs("report", str(mprof_file))
    assert text.returncode == 0, text.stderr
    assert "peak:      250.0 MiB in total at 1.0 s" in text.stdout
    assert "main:      ray-start (10), peak 120.0 MiB" in text.stdout
    assert text.stdout.rstrip().endswith("45.0       45.0        0.0-2.0  raylet (21)")
    document = json.loads(rayobs("report", str(mprof_file), "--format", "json").stdout)
    assert document["peak_mib"] == 250.0 and document["duration_seconds"] == 2.0
    assert [(c["name"], c["peak_mib"], c["samples"]) for c in document["children"]] == [
        ("ray::IDLE", 90.0, 1),
        ("raylet", 45.0, 3),
    ]


def test_plot_writes_a_real_picture(tmp_path: Path, mprof_file: Path) -> None:
    import matplotlib.image

    out = tmp_path / "memory.png"
    result = rayobs("plot", str(mprof_file), "-o", str(out), "--max-children", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote {out}\n"
    pixels = matplotlib.image.imread(out)
    height, width = pixels.shape[:2]
    assert (width, height) == (1210, 770)
    colours = {tuple(p) for p in pixels.reshape(-1, pixels.shape[2])[::7].tolist()}
    assert len(colours) > 50  # lines, text and a legend, not a blank canvas


def test_plot_sums_the_children_beyond_the_limit(tmp_path: Path) -> None:
    from rayobs.profiling._plot import _summed

    profile = parse(MPROF)
    assert _summed(profile.children[1:], profile.total) == [30.0, 40.0, 45.0]


# ---- bad input: one line on stderr, exit 2 ----


def _foreign_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "binary": b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
        "text": b"hello world\nnot a profile\n",
        "empty": b"",
        "mprof-garbled": b"MEM not-a-number 12\n",
        "mprof-no-samples": b"CMDLINE sleep 1\n",
        "marshal-not-stats": marshal.dumps([1, 2, 3]),
        "marshal-bad-dict": marshal.dumps({"a": 1}),
    }
    paths = {}
    for name, content in files.items():
        paths[name] = tmp_path / name
        paths[name].write_bytes(content)
    paths["missing"] = tmp_path / "missing.prof"
    paths["directory"] = tmp_path
    return paths


@pytest.mark.parametrize(
    "kind",
    [
        "binary",
        "text",
        "empty",
        "mprof-garbled",
        "mprof-no-samples",
        "marshal-not-stats",
        "marshal-bad-dict",
        "missing",
        "directory",
    ],
)
@pytest.mark.parametrize("command", ["report", "plot"])
def test_unreadable_or_foreign_files(tmp_path: Path, kind: str, command: str) -> None:
    path = _foreign_files(tmp_path)[kind]
    with pytest.raises(ProfileFileError, match=str(path)):
        load(path)
    extra = ["-o", str(tmp_path / "x.png")] if command == "plot" else []
    result = rayobs(command, str(path), *extra)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"rayobs: error: {path}")
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report"], "Missing argument 'FILE'"),
        (["report", "f", "--top", "0"], "--top"),
        (["report", "f", "--sort", "wall"], "--sort"),
        (["report", "f", "--bogus"], "No such option '--bogus'"),
        (["plot", "f"], "Missing option '--output'"),
        (["bogus"], "No such command 'bogus'"),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    result = rayobs(*args)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("rayobs: error: ") and message in line


def test_plot_refuses_cprofile_files_and_unwritable_outputs(
    tmp_path: Path, cprofile_file: Path, mprof_file: Path
) -> None:
    result = rayobs("plot", str(cprofile_file), "-o", str(tmp_path / "x.png"))
    assert result.returncode == 2 and "use `rayobs profile report`" in result.stderr
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = rayobs("plot", str(mprof_file), "-o", str(blocker / "x.png"))
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"rayobs: error: cannot write {blocker / 'x.png'}")


def test_load_tells_the_kinds_apart(mprof_file: Path, cprofile_file: Path) -> None:
    assert isinstance(load(mprof_file), MemoryProfile)
    assert isinstance(load(cprofile_file), CpuProfile)
