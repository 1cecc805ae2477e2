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
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


def http_get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return str(response.read().decode())


def new_token(directory: Path) -> Path:
    """Write a fresh Ray auth token into ``directory`` and return its path."""
    path = directory / "auth_token"
    path.write_text(secrets.token_hex(32))
    path.chmod(0o600)
    return path


def ray_env(temp_dir: Path, token_path: Path) -> dict[str, str]:
    """Environment for every process that starts or talks to the test cluster."""
    env = dict(os.environ)
    env.update(
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN_PATH=str(token_path),
        RAY_USAGE_STATS_ENABLED="0",
        # Workers push metrics every 500 ms instead of 10 s, so tests don't wait.
        RAY_metrics_report_interval_ms="500",
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p),
    )
    env.pop("RAY_AUTH_TOKEN", None)
    env.pop("RAY_ADDRESS", None)
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
        command = [
            str(BIN / "ray"),
            "start",
            "--head",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--port={cluster.gcs_port}",
            f"--num-cpus={num_cpus}",
            "--num-gpus=0",
            f"--metrics-export-port={cluster.metrics_port}",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={cluster.dashboard_port}",
            f"--temp-dir={temp_dir}",
            "--disable-usage-stats",
        ]
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
                self.process.wait(timeout=30)
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
    me = os.getpid()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == me:
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline or marker.encode() in environ:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)


@dataclass
class Prometheus:
    """A real Prometheus server on 127.0.0.1 scraping the given targets every second."""

    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    targets: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, targets: list[str], rule_files: list[Path] | None = None) -> Prometheus:
        binary = shutil.which("prometheus")
        if binary is None:
            raise FileNotFoundError("prometheus")
        for target in targets:
            if not target.startswith("127.0.0.1:"):
                raise ValueError(f"refusing to scrape a non-loopback target: {target}")
        data_dir = Path(tempfile.mkdtemp(prefix="rayobs-prom-", dir="/tmp"))
        config = {
            "global": {
                "scrape_interval": "1s",
                "evaluation_interval": "1s",
                "scrape_timeout": "1s",
            },
            "rule_files": [str(p) for p in (rule_files or [])],
            "scrape_configs": [{"job_name": "ray", "static_configs": [{"targets": targets}]}],
        }
        config_path = data_dir / "prometheus.yml"
        config_path.write_text(json.dumps(config))  # JSON is valid YAML
        port = free_port()
        log_path = data_dir / "prometheus.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config_path}",
                    f"--storage.tsdb.path={data_dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--storage.tsdb.retention.time=1h",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = cls(port, data_dir, process, log_path, targets)
        try:
            wait_until(server._ready, 60, f"Prometheus to be ready (log: {log_path})")
        except BaseException:
            server.stop()
            raise
        return server

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"prometheus exited:\n{self.log_path.read_text()[-3000:]}")
        return "Ready" in http_get(f"{self.url}/-/ready", timeout=2)

    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>`` and return ``data``; raise with Prometheus' error on failure."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            body = json.loads(http_get(url, timeout=10))
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read().decode() or "{}")
        if body.get("status") != "success":
            raise PromQLError(f"{params.get('query', path)}: {body.get('error', body)}")
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Instant query: the result vector (a list of ``{"metric", "value"}``)."""
        data = self.api("query", query=promql)
        result: list[dict[str, Any]] = (
            data["result"]
            if data["resultType"] == "vector"
            else [{"metric": {}, "value": data["result"]}]
        )
        return result

    def values(self, promql: str, by: str | None = None) -> dict[str, float]:
        """Instant query as ``{label value of by (or ''): float}``."""
        return {
            (r["metric"].get(by, "") if by else ""): float(r["value"][1])
            for r in self.query(promql)
        }

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

    def stop(self) -> None:
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        shutil.rmtree(self.data_dir, ignore_errors=True)


class PromQLError(AssertionError):
    """Prometheus refused a query (parse or evaluation error)."""
