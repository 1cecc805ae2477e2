"""rayobs top's command line against a real HTTP metrics endpoint on loopback (no Ray)."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rayobs.top._compute import SortBy
from rayobs.top._live import ViewState, render
from tests.harness import loopback_http

BUCKET = "ray_rayobs_call_duration_seconds_bucket"
LABELS = 'WorkerId="w1",app="",component="",kind="task",name="resize",team=""'


class _Metrics(http.server.BaseHTTPRequestHandler):
    """Serves a counter that grows by 10 calls (2 of them errors) per request."""

    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        n = type(self).hits
        body = "\n".join(
            [
                f'ray_rayobs_calls_total{{{LABELS},outcome="ok"}} {8 * n}',
                f'ray_rayobs_calls_total{{{LABELS},outcome="error"}} {2 * n}',
                f'ray_rayobs_call_errors_total{{{LABELS},exception="OSError"}} {2 * n}',
                f'{BUCKET}{{{LABELS},le="0.1",outcome="ok"}} {8 * n}',
                f'{BUCKET}{{{LABELS},le="+Inf",outcome="ok"}} {8 * n}',
                'ray_resources{Name="CPU",State="AVAILABLE"} 2',
                "",
            ]
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    _Metrics.hits = 0
    with loopback_http(_Metrics) as address:
        yield address


def rayobs(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rayobs", "top", *args], capture_output=True, text=True, timeout=60
    )


def test_once_json_from_an_endpoint(endpoint: str) -> None:
    out = rayobs("--endpoint", endpoint, "--once", "--interval", "0.5", "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    (row,) = data["functions"]
    assert (row["name"], row["calls"], row["errors"], row["error_ratio"]) == ("resize", 10, 2, 0.2)
    assert row["exceptions"] == [{"type": "OSError", "count": 2}]
    assert row["p99_s"] == pytest.approx(0.0999, abs=1e-3)  # rank 7.92 of 8 in (0, 0.1]
    assert 0.4 < data["window_s"] < 1.5
    assert data["cluster"]["nodes"] == 1


def test_once_table_and_a_dead_endpoint_shown_as_such(endpoint: str) -> None:
    dead = "127.0.0.1:1"
    out = rayobs("--endpoint", endpoint, "--endpoint", dead, "--once", "--interval", "0.5")
    assert out.returncode == 0, out.stderr
    assert "no answer: http://127.0.0.1:1/metrics: connection refused" in out.stdout
    assert "resize" in out.stdout and "OSError 2" in out.stdout


def test_endpoint_mode_never_imports_ray(endpoint: str, tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import atexit, sys\n"
        "atexit.register(lambda: print('RAY' if 'ray' in sys.modules else 'NO-RAY'))\n"
        "from rayobs.cli import main\n"
        f"main(['top', '--endpoint', {endpoint!r}, '--once', '--interval', '0.5'])\n"
    )
    out = subprocess.run([sys.executable, str(probe)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("NO-RAY")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--endpoint", "ftp://x", "--once"], "--endpoint: not an http(s) endpoint"),
        (["--endpoint", "127.0.0.1:1", "--prometheus", "x", "--once"], "choose one source"),
        (["--endpoint", "127.0.0.1:1", "--once"], "no metrics endpoint answered"),
        (["--prometheus", "http://127.0.0.1:1", "--once"], "no answer from Prometheus"),
        (["--address", "127.0.0.1:1", "--once"], "nothing listens"),
        (["--address", "http://127.0.0.1:1", "--once"], "nothing listens"),
        (["--address", "ftp://x", "--session-dir", "/tmp", "--once"], "--address takes"),
        (["--session-dir", "/nonexistent", "--once"], "no Ray file-SD targets"),
        (["--endpoint", "127.0.0.1:1"], "the live view needs a terminal"),
        (["--endpoint", "127.0.0.1:1", "--format", "json"], "--format json needs --once"),
        (["--sort", "speed", "--once"], "Invalid value for '--sort'"),
        (["--interval", "0", "--once"], "Invalid value for '--interval'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "rayobs", "top", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rayobs: error: "), out.stderr
    assert message in lines[0]


def test_sd_file_session_dir(endpoint: str, tmp_path: Path) -> None:
    sd = [{"labels": {"job": "ray"}, "targets": [endpoint]}]
    (tmp_path / "prom_metrics_service_discovery.json").write_text(json.dumps(sd))
    out = rayobs("--session-dir", str(tmp_path), "--once", "--interval", "0.5", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert [e["source"] for e in json.loads(out.stdout)["endpoints"]] == [
        f"http://{endpoint}/metrics"
    ]


def test_view_keys() -> None:
    state = ViewState()
    for char, sort in (("e", SortBy.ERRORS), ("p", SortBy.P99), ("i", SortBy.IN_FLIGHT)):
        state.key(char)
        assert state.sort is sort
    state.key("s")
    assert state.sort is SortBy.CALLS  # in-flight wraps around to calls
    for char in "/rex\x7fs\r":  # typed, one backspace, Enter
        state.key(char)
    assert (state.filter_text, state.editing) == ("res", None)
    state.key("/")
    state.key("x")
    state.key("\x1b")  # Esc while typing: the filter stays as it was
    assert (state.filter_text, state.editing) == ("res", None)
    state.key("\x1b")  # Esc: the filter is cleared
    assert state.filter_text == ""
    assert not state.quit
    state.key("q")
    assert state.quit


def test_render_before_the_first_frame() -> None:
    group = render(None, ViewState(), "1 endpoint(s)")
    assert "collecting" in str(group.renderables[0])
