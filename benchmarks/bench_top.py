"""Benchmark: one ``rayobs top`` refresh of three nodes' endpoints, and start-up to first frame.

The three endpoints serve what a real Ray 2.60 node serves: the metrics page of
a head started here (127.0.0.1, its own temp dir and token, stopped at the
end), plus the rayobs series of 50 instrumented functions on 4 workers each
in Ray's label format, appended to it. A separate process serves that page on
three loopback ports, so the CPU measured here is rayobs top's alone
(``time.process_time``: fetch, parse, compute, render).

Targets: CPU per refresh <= 0.1 x the default interval (2 s) of one core;
start-up of ``rayobs top --endpoint ...`` to its first frame in a terminal
(a pty) <= 0.5 s, with Ray never imported.

Run ``python -m benchmarks top`` (or this file; exit status 1 when a target is missed).
"""

from __future__ import annotations

import os
import pty
import select
import statistics
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

from rayobs.metrics._catalog import DURATION_BUCKETS

REFRESHES = 20
STARTS = 7
INTERVAL_S = 2.0  # the CLI's default
CPU_TARGET = 0.1
START_TARGET_S = 0.5
BIN = Path(sys.executable).parent
RAY_LABELS = (
    'Component="core_worker",NodeAddress="127.0.0.1",SessionName="session_bench",'
    'Version="2.60.0",otel_scope_name="rayobs"'
)
LES = (*(f"{b:g}" for b in DURATION_BUCKETS), "+Inf")

SERVER = textwrap.dedent(
    """
    import http.server, sys, threading
    body = open(sys.argv[1], "rb").read()
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers(); self.wfile.write(body)
        def log_message(self, *a): pass
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), H) for _ in range(3)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print(" ".join(str(s.server_address[1]) for s in servers), flush=True)
    sys.stdin.read()
    """
)


def _rayobs_series(functions: int = 50, workers: int = 4) -> str:
    lines = []
    for f in range(functions):
        for w in range(workers):
            worker = f'WorkerId="w{w}",app="bench",component="",kind="task"'
            tags = f'{RAY_LABELS},{worker},name="fn_{f}",team=""'
            for outcome, n in (("ok", 90 + f), ("error", 10)):
                lines.append(f'ray_rayobs_calls_total{{{tags},outcome="{outcome}"}} {n}')
                for i, le in enumerate(LES):
                    lines.append(
                        f'ray_rayobs_call_duration_seconds_bucket{{{tags},le="{le}",'
                        f'outcome="{outcome}"}} {min(n, i * 7)}'
                    )
            lines.append(f'ray_rayobs_call_errors_total{{{tags},exception="ValueError"}} 10')
            lines.append(f"ray_rayobs_calls_in_flight{{{tags}}} 1")
    return "\n".join(lines) + "\n"


def _page(path: Path) -> tuple[int, int]:
    from tests.harness import RayCluster

    cluster = RayCluster.start(num_cpus=1)
    try:
        ray_page = urllib.request.urlopen(cluster.metrics_url, timeout=10).read().decode()
    finally:
        cluster.stop()
    page = ray_page + _rayobs_series()
    path.write_text(page)
    return len(ray_page.splitlines()), len(page.splitlines())


def _first_frame_s(urls: list[str]) -> float:
    argv = [str(BIN / "rayobs"), "top", "--interval", "2"]
    for url in urls:
        argv += ["--endpoint", url]
    pid, fd = pty.fork()
    if pid == 0:  # the child: rayobs top in a terminal
        os.execve(argv[0], argv, {**os.environ, "TERM": "xterm-256color", "COLUMNS": "200"})
    started = time.perf_counter()
    seen = b""
    try:
        while b"CALLS/S" not in seen:
            ready, _, _ = select.select([fd], [], [], 10)
            if not ready:
                raise RuntimeError("rayobs top drew no frame within 10 s")
            seen += os.read(fd, 65536)
        return time.perf_counter() - started
    finally:
        os.write(fd, b"q")
        os.waitpid(pid, 0)
        os.close(fd)


def main() -> int:
    from rayobs.top._sources import EndpointSource, fetch_timeout

    path = Path(f"/tmp/rayobs-bench-top-{os.getpid()}.prom")
    ray_lines, lines = _page(path)
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        urls = [f"http://127.0.0.1:{p}/metrics" for p in server.stdout.readline().decode().split()]
        source = EndpointSource(urls, fetch_timeout(INTERVAL_S))
        source.frame()
        walls, cpus = [], []
        for _ in range(REFRESHES):
            wall, cpu = time.perf_counter(), time.process_time()
            frame = source.frame()
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        if len(frame.rows) != 50 or not all(e.ok for e in frame.endpoints):
            raise RuntimeError(f"unexpected frame: {len(frame.rows)} rows, {frame.endpoints}")
        starts = [_first_frame_s(urls) for _ in range(STARTS)]
    finally:
        server.stdin.close()  # type: ignore[union-attr]
        server.wait(timeout=10)
        path.unlink(missing_ok=True)
    wall, cpu, start = (statistics.median(v) for v in (walls, cpus, starts))
    ratio = cpu / INTERVAL_S
    print(f"3 endpoints, {lines} lines each ({ray_lines} from a real Ray 2.60 node)")
    print(f"{'refresh wall time (median of ' + str(REFRESHES) + ')':<44}{wall * 1e3:8.1f} ms")
    print(f"{'refresh CPU time (median)':<44}{cpu * 1e3:8.1f} ms")
    print(f"{'CPU / interval (2 s, one core)':<44}{ratio:8.3f}   target <= {CPU_TARGET}")
    print(f"{'start-up to first frame (median of ' + str(STARTS) + ')':<44}{start:8.3f} s"
          f"   target <= {START_TARGET_S}")  # fmt: skip
    return 0 if ratio <= CPU_TARGET and start <= START_TARGET_S else 1


if __name__ == "__main__":
    from benchmarks._env import prepare_ray_environment

    prepare_ray_environment()
    sys.exit(main())
