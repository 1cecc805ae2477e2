"""Benchmark: post-mortem ``rayobs diagnose --session-dir`` on a large session, against grep.

A session directory is generated with ``WORKERS`` workers (each with its
``worker-*.out``, ``worker-*.err`` and ``python-core-worker-*.log``), a
``gcs_server.out`` and ``raylet.out`` of matching size, about 170 MB in all; one
worker in ten died (a vanished worker, a segfault trace, a memory-monitor kill,
a SIGTERM, a kernel OOM kill recorded by the setup hook). Both sides read every
byte: ``rayobs diagnose --session-dir DIR --format json`` as a whole process, and
``grep -rcE`` for the same patterns it looks for. Runs are interleaved, medians
reported. Target: diagnose within 5x grep. ``python benchmarks/bench_diagnose_session.py``.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKERS = 2_000
ROUNDS = 3
TARGET = 5.0
STAMP = "[2026-11-23 16:05:41,720 I 7781 7781]"
PATTERNS = (
    "Reporting worker exit|Disconnect, exit_type|Started worker process|SIGSEGV|"
    "Fatal Python error|Selected to kill|low on memory|death reason|oom_kill|Killed process|"
    ":task_name:|:actor_name:|Setting node ID|RAY_WORKER_FAILURE"
)


def _filler(lines: int, second: int = 0) -> str:
    """Log lines stamped over the minutes after ``second`` (each worker has its own time)."""
    return (
        "\n".join(
            f"[2026-11-23 16:{(second + i // 8) // 60 % 60:02d}:{(second + i // 8) % 60:02d},"
            f"{i % 1000:03d} I 7781 7781] core_worker.cc:{i}: task {i:06x} finished, "
            "resources released; object store usage 1.2 GB of 8.0 GB; spilled 0 objects"
            for i in range(lines)
        )
        + "\n"
    )


def generate(root: Path, workers: int = WORKERS) -> Path:
    """A session's logs directory with ``workers`` workers; returns the session directory."""
    session = root / "session_2026-11-23_16-03-00_501230_5610"
    logs = session / "logs"
    (logs / "events").mkdir(parents=True)
    node = "ab" * 28
    gcs = [_filler(20000)]
    raylet = [f"{STAMP} (raylet) main.cc:1: Setting node ID node_id={node}\n", _filler(20000)]
    for n in range(workers):
        wid, pid = f"{n:056x}", 10_000 + n
        raylet.append(
            f"{STAMP} (raylet) worker_pool.cc:1: Started worker process "
            f"with pid {pid} worker_id={wid}\n"
        )
        per_file = _filler(170, n)  # about 28 KB a file, 3 files a worker
        err = f":task_name:task_{n}\n" + per_file
        if n % 10 == 0:
            kind = (n // 10) % 5
            detail = "Worker unexpectedly exits with a connection error code 2. End of file."
            if kind == 1:
                err += "*** SIGSEGV received at time=1795449809 on cpu 1 ***\nPC: @ 0x0 (unknown)\n"
            elif kind == 2:
                detail = "1 worker(s) were killed due to the node running low on memory."
            elif kind == 3:
                detail = "Worker exits with an exit code 1. The process receives a SIGTERM."
            kill_type = "NODE_OUT_OF_MEMORY" if kind == 2 else "SYSTEM_ERROR"
            gcs.append(
                f"{STAMP} (gcs_server) gcs_worker_manager.cc:70: Reporting worker exit, "
                f"worker id = {wid}, node id = {node}, address = 127.0.0.1, "
                f"exit_type = {kill_type}, "
                f"exit_detail = {detail}\n"
            )
            if kind == 4:
                record = {
                    "time": 1795449809.0,
                    "cgroup": "/sys/fs/cgroup/memory/pod",
                    "oom_kill": [n, n + 1],
                    "gone": [[pid, f"ray::task_{n}"]],
                    "node": node,
                }
                with (logs / "rayobs-oom-0123456789ab.log").open("a") as stream:
                    stream.write(json.dumps(record) + "\n")
        (logs / f"worker-{wid}-01000000-{pid}.out").write_text(per_file)
        (logs / f"worker-{wid}-01000000-{pid}.err").write_text(err)
        (logs / f"python-core-worker-{wid}_{pid}.log").write_text(per_file)
    (logs / "gcs_server.out").write_text("".join(gcs))
    (logs / "raylet.out").write_text("".join(raylet))
    return session


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run(workers: int = WORKERS, rounds: int = ROUNDS) -> tuple[str, bool]:
    root = Path(tempfile.mkdtemp(prefix="rayobs-bench-session-"))
    try:
        session = generate(root, workers)
        commands = {
            "rayobs diagnose --session-dir": [
                sys.executable,
                "-m",
                "rayobs",
                "diagnose",
                "--session-dir",
                str(session),
                "--format",
                "json",
            ],
            "grep -rcE (same patterns)": ["grep", "-rcE", PATTERNS, str(session / "logs")],
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        deaths = 0
        for _ in range(rounds):
            for name, argv in commands.items():
                start = time.perf_counter()
                result = subprocess.run(argv, capture_output=True, text=True, check=False)
                samples[name].append(time.perf_counter() - start)
                if name.startswith("rayobs"):
                    deaths = len(json.loads(result.stdout)["deaths"])
        size = _size(session)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    ours, grep = medians["rayobs diagnose --session-dir"], medians["grep -rcE (same patterns)"]
    ok = ours <= TARGET * grep
    lines = [
        f"session: {workers} workers, {size / 1e6:.0f} MB of logs; {deaths} deaths found; "
        f"median of {rounds} interleaved rounds",
        *(f"{name:<34} {seconds:>7.2f} s" for name, seconds in medians.items()),
        f"ratio {ours / grep:.1f}x grep, target <= {TARGET:.0f}x: {'ok' if ok else 'MISS'}",
    ]
    return "\n".join(lines), ok


def main() -> None:
    print(run()[0])


if __name__ == "__main__":
    report, within = run()
    print(report)
    sys.exit(0 if within else 1)
