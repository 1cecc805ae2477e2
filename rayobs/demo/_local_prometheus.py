"""A throwaway Prometheus server on 127.0.0.1, for the demo, previews and tests.

It runs the ``prometheus`` binary found on PATH with a temporary config and
storage directory, listens on 127.0.0.1 and is queried over its HTTP API.
``start`` scrapes the loopback targets it is given; ``run`` takes a whole
configuration (the tests run the docs' file-SD job with it). Nothing here
talks to any other address: targets found in a file-SD file are kept only when
they are on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rayobs.demo._ports import free_port


class PromQLError(Exception):
    """Prometheus refused a query (parse or evaluation error)."""


LOOPBACK_TARGET = r"127\.0\.0\.1:\d+"
# Ray rewrites its file-SD file every 5 s; Prometheus re-reads it this often as well as on change.
FILE_SD_REFRESH = "1s"


def scrape_job(
    targets: Sequence[str] = (),
    target_files: Sequence[Path] = (),
    exclude: Sequence[str] = (),
    job: str = "ray",
) -> dict[str, Any]:
    """A ``prometheus.yml`` scrape job: ``targets`` and the targets listed in ``target_files``.

    Whatever the files list, only ``127.0.0.1:PORT`` targets are scraped, and never
    those in ``exclude``. Raises ``ValueError`` for a static target not on 127.0.0.1.

    >>> scrape_job(["127.0.0.1:8080"])["static_configs"]
    [{'targets': ['127.0.0.1:8080']}]
    >>> scrape_job(target_files=[Path("/tmp/sd.json")])["file_sd_configs"]
    [{'files': ['/tmp/sd.json'], 'refresh_interval': '1s'}]
    """
    for target in targets:
        if not re.fullmatch(LOOPBACK_TARGET, target):
            raise ValueError(f"refusing to scrape a non-loopback target: {target}")
    config: dict[str, Any] = {"job_name": job}
    if targets:
        config["static_configs"] = [{"targets": list(targets)}]
    if target_files:
        config["file_sd_configs"] = [
            {"files": [str(p) for p in target_files], "refresh_interval": FILE_SD_REFRESH}
        ]
    relabel: list[dict[str, Any]] = [
        {"source_labels": ["__address__"], "regex": LOOPBACK_TARGET, "action": "keep"}
    ]
    if exclude:
        relabel.append(
            {
                "source_labels": ["__address__"],
                "regex": "|".join(re.escape(address) for address in exclude),
                "action": "drop",
            }
        )
    config["relabel_configs"] = relabel
    return config


def prometheus_config(
    targets: Sequence[str] = (),
    rule_files: Sequence[Path] = (),
    target_files: Sequence[Path] = (),
    exclude: Sequence[str] = (),
) -> dict[str, Any]:
    """A whole ``prometheus.yml`` as data: one job (:func:`scrape_job`), everything every second.

    >>> prometheus_config(["127.0.0.1:8080"])["global"]["evaluation_interval"]
    '1s'
    """
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [scrape_job(targets, target_files, exclude)],
    }


def _get(url: str, timeout: float) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return str(response.read().decode())


@dataclass
class LocalPrometheus:
    """A Prometheus server scraping loopback targets (``127.0.0.1:PORT`` only) every second."""

    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls,
        targets: list[str],
        rule_files: list[Path] | None = None,
        binary: str | None = None,
        timeout: float = 60.0,
        target_files: list[Path] | None = None,
        exclude: Sequence[str] = (),
    ) -> LocalPrometheus:
        """Start a server scraping every second and wait until it is ready.

        It scrapes ``targets`` and the 127.0.0.1 targets listed in the file-SD
        ``target_files`` (re-read every second: Ray's file changes as nodes come
        and go), except the addresses in ``exclude``, and evaluates the rules of
        ``rule_files`` every second. Raises ``FileNotFoundError`` without a
        ``prometheus`` binary, ``ValueError`` for a target that is not on
        127.0.0.1, ``RuntimeError`` if it will not start.
        """
        config = prometheus_config(targets, rule_files or (), target_files or (), exclude)
        return cls.run(config, binary, timeout)

    @classmethod
    def run(
        cls, config: dict[str, Any], binary: str | None = None, timeout: float = 60.0
    ) -> LocalPrometheus:
        """Start a server with this configuration (a ``prometheus.yml`` as data); wait for it.

        It listens on a free port of 127.0.0.1 and keeps its storage in a
        temporary directory, removed by ``stop``. Raises ``FileNotFoundError``
        without a ``prometheus`` binary, ``RuntimeError`` if it will not start.
        """
        binary = binary or shutil.which("prometheus")
        if binary is None:
            raise FileNotFoundError("no 'prometheus' binary on PATH")
        data_dir = Path(tempfile.mkdtemp(prefix="rayobs-prom-", dir="/tmp"))
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
        server = cls(port, data_dir, process, log_path)
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                log_tail = log_path.read_text()[-2000:]
                server.stop()
                raise RuntimeError(f"prometheus exited with {process.returncode}: {log_tail}")
            try:
                if "Ready" in _get(f"{server.url}/-/ready", timeout=2):
                    return server
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"prometheus was not ready within {timeout:.0f}s")
            time.sleep(0.2)

    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>`` and return its ``data``; ``PromQLError`` on failure."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            body = json.loads(_get(url, timeout=10))
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read().decode() or "{}")
        if body.get("status") != "success":
            raise PromQLError(f"{params.get('query', path)}: {body.get('error', body)}")
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Instant query: a list of ``{"metric": labels, "value": [ts, "v"]}``."""
        data = self.api("query", query=promql)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def values(self, promql: str, by: str | None = None) -> dict[str, float]:
        """Instant query as ``{value of label `by` (or ''): float}``."""
        return {
            (r["metric"].get(by, "") if by else ""): float(r["value"][1])
            for r in self.query(promql)
        }

    def stop(self) -> None:
        """Stop the server and delete its temporary storage."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.data_dir, ignore_errors=True)
