"""The real components the tests run against: a local Ray head and a Prometheus server.

Both listen on 127.0.0.1 only. Ray 2.60 swaps 127.0.0.1 for the machine's
routable address unless ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` is set, so it is
set for every Ray process started here. Token authentication uses a token file
in the cluster's temp dir, so nothing is written to the user's home.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rayobs.demo._local_prometheus import LocalPrometheus, PromQLError
from rayobs.demo._local_ray import (
    head_command,
    kill_marked,
    loopback_env,
    new_token,
    private_network,
)
from rayobs.demo._ports import free_port
from tests import requires

__all__ = [
    "PromQLError",
    "Prometheus",
    "RayCluster",
    "alert_rule_file",
    "free_port",
    "new_token",
    "wait_until",
]

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ALERT_RULES = REPO / "k8s" / "prometheusrule-rayobs-alerts.yaml"
# The head's autoscaler and dashboard serve metrics on fixed ports, which Ray's file-SD file
# lists: with another Ray cluster on this machine they may be that cluster's. Never scraped here.
HEAD_FIXED_PORTS = ("127.0.0.1:44217", "127.0.0.1:44227")


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    """Poll ``check`` until it returns a truthy value; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # the thing is not up yet
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(
        f"gave up after {timeout:.0f}s waiting for {what} (last error: {last_error!r})"
    )


def diagnose_json(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """``rayobs diagnose --format json ARGS`` in a fresh interpreter; its exit code must be 0."""
    result = subprocess.run(
        [sys.executable, "-m", "rayobs", "diagnose", "--format", "json", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def http_get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return str(response.read().decode())


@contextlib.contextmanager
def loopback_http(handler: Callable[..., BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a free port of 127.0.0.1 for the duration; yields ``127.0.0.1:PORT``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def default_signals() -> None:
    """Undo an inherited ignore of SIGINT and SIGTERM, for this process and what it starts.

    A shell starts a background job (``make test &`` in a script, some CI
    runners) with SIGINT ignored, and every process started from there inherits
    the ignore: Ray's workers then never see the interrupt ``ray.cancel`` sends,
    and a program killed by SIGINT just carries on. exec keeps an ignore but
    resets a handler to the default, so with Python's own handler installed
    here, every process started afterwards gets the default. The suite relies on
    no other signal's default (an ignored SIGHUP, from ``nohup``, stays).
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def ray_env(temp_dir: Path, token_path: Path) -> dict[str, str]:
    """Environment for every process that starts or talks to the test cluster."""
    env = loopback_env(token_path)
    env.update(
        # Workers push metrics every 500 ms instead of 10 s, so tests don't wait.
        RAY_metrics_report_interval_ms="500",
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p),
    )
    return env


@dataclass
class RayCluster:
    """A local Ray head started with ``ray start --head --block`` on 127.0.0.1."""

    temp_dir: Path
    gcs_port: int
    metrics_port: int
    dashboard_port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def session_dir(self) -> Path:
        return (self.temp_dir / "session_latest").resolve()

    @classmethod
    def start(
        cls,
        num_cpus: int = 2,
        extra_env: dict[str, str] | None = None,
        token_path: Path | None = None,
    ) -> RayCluster:
        """Start a head; ``token_path`` defaults to ``RAY_AUTH_TOKEN_PATH`` or a new token.

        Ray reads its auth settings once per process, when it is first imported:
        a driver in this process can only join a cluster using the token its
        environment named before ``import ray``.
        """
        # Unix socket paths live under the temp dir: keep it short.
        temp_dir = Path(tempfile.mkdtemp(prefix="rayobs-", dir="/tmp"))
        if token_path is None and os.environ.get("RAY_AUTH_TOKEN_PATH"):
            token_path = Path(os.environ["RAY_AUTH_TOKEN_PATH"])
        if token_path is None:
            token_path = new_token(temp_dir)
        env = ray_env(temp_dir, token_path)
        env.update(extra_env or {})
        cluster = cls(temp_dir, free_port(), free_port(), free_port(), env)
        cluster.log_path = temp_dir / "ray-start.log"
        default_signals()  # the head, and so Ray's workers, get SIGINT's default
        command = head_command(
            temp_dir,
            gcs_port=cluster.gcs_port,
            metrics_port=cluster.metrics_port,
            num_cpus=num_cpus,
            dashboard_port=cluster.dashboard_port,
        )
        with cluster.log_path.open("wb") as log:
            cluster.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            wait_until(cluster._ready, 90, f"the Ray head to start (log: {cluster.log_path})")
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            log = self.log_path.read_text() if self.log_path else ""
            raise RuntimeError(f"ray start exited with {self.process.returncode}:\n{log[-3000:]}")
        http_get(self.metrics_url, timeout=2)
        return (self.temp_dir / "session_latest").exists()

    def stop(self) -> None:
        """Stop exactly this cluster's processes (never ``ray stop``, which stops them all)."""
        if self.process is not None and self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        _kill_stragglers(str(self.temp_dir))
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def _kill_stragglers(marker: str) -> None:
    """Kill processes whose command line or environment names this cluster's temp dir."""
    kill_marked(marker)


def run_private(script: Path, *args: str, timeout: float = 150.0) -> dict[str, Any]:
    """Run ``script`` with this Python in a private network namespace (loopback only)
    and return the JSON object its last ``{...}`` line of output holds.

    The script gets ``RAYOBS_RUN_DIR``, a fresh temp dir that every process it
    starts inherits in its environment: whatever is left afterwards (Ray's
    processes, a Prometheus) is killed by that mark, on success and failure alike.
    """
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        requires.missing("a private network namespace", "run as root, with unshare (util-linux)")
    run_dir = Path(tempfile.mkdtemp(prefix="rayobs-run-", dir="/tmp"))
    env = dict(os.environ)
    for key in ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE"):
        env.pop(key, None)
    env.update(
        RAYOBS_RUN_DIR=str(run_dir),
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p),
    )
    command = private_network([sys.executable, str(script), *args])
    process = subprocess.Popen(
        command,
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal_group(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        raise AssertionError(f"{script.name} ran over {timeout:.0f}s:\n{err[-4000:]}") from None
    finally:
        kill_marked(str(run_dir))
        shutil.rmtree(run_dir, ignore_errors=True)
    lines = [line for line in out.splitlines() if line.startswith("{")]  # Ray prints too
    if process.returncode != 0 or not lines:
        raise AssertionError(f"{script.name} exited {process.returncode}:\n{err[-4000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


class Prometheus(LocalPrometheus):
    """The product's local Prometheus runner, plus a bounded wait for expected values."""

    def wait_for(
        self,
        promql: str,
        expected: dict[str, float] | float,
        by: str | None = None,
        timeout: float = 45.0,
    ) -> dict[str, float]:
        """Wait until ``promql`` returns exactly ``expected``; fail showing the last result."""
        want = expected if isinstance(expected, dict) else {"": float(expected)}
        last: dict[str, float] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = self.values(promql, by)
            if last == want:
                return last
            time.sleep(0.5)
        raise AssertionError(
            f"Prometheus never returned the expected value within {timeout:.0f}s\n"
            f"  query:    {promql}\n  expected: {want}\n  last:     {last}"
        )


def alert_rule_groups() -> list[dict[str, Any]]:
    """The ``spec.groups`` of the shipped PrometheusRule (the committed file, as deployed)."""
    import yaml

    (rule,) = [d for d in yaml.safe_load_all(ALERT_RULES.read_text()) if d]
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


def alert_rule_file(directory: Path) -> Path:
    """The shipped alert rules as a Prometheus rule file in ``directory``."""
    path = directory / "rayobs-alerts.rules.json"  # JSON is YAML
    path.write_text(json.dumps({"groups": alert_rule_groups()}))
    return path
