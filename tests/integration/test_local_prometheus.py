"""The local Prometheus runner on a file-SD file and the shipped alert rules, with a real server.

The file lists a loopback endpoint served here, an address off this machine
(TEST-NET-1, never contacted: the job keeps loopback targets only) and a
loopback address excluded by the caller. Prometheus must scrape the first
alone, follow the file when it changes, and load every alert rule.
"""

from __future__ import annotations

import http.server
import json
from pathlib import Path

import pytest

from tests import requires
from tests.harness import Prometheus, alert_rule_file, alert_rule_groups, loopback_http, wait_until

pytestmark = pytest.mark.prometheus

OFF_MACHINE = "192.0.2.1:9100"
EXCLUDED = "127.0.0.1:9"


class _Metrics(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"# TYPE probe_up gauge\nprobe_up 1\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _write(path: Path, targets: list[str]) -> None:
    staged = path.with_suffix(".tmp")
    staged.write_text(json.dumps([{"labels": {"job": "ray"}, "targets": targets}]))
    staged.replace(path)  # atomic, as Ray writes it


def test_file_sd_keeps_loopback_targets_only_and_follows_the_file(tmp_path: Path) -> None:
    binary = requires.program("prometheus", requires.DEBIAN_PROMETHEUS)
    sd_file = tmp_path / "targets.json"
    with loopback_http(_Metrics) as first, loopback_http(_Metrics) as second:
        _write(sd_file, [first, OFF_MACHINE, EXCLUDED])
        server = Prometheus.start(
            [],
            rule_files=[alert_rule_file(tmp_path)],
            binary=binary,
            target_files=[sd_file],
            exclude=[EXCLUDED],
        )
        try:

            def scraped(address: str) -> bool:
                active = server.api("targets")["activeTargets"]
                return [(t["labels"]["instance"], t["health"]) for t in active] == [(address, "up")]

            wait_until(lambda: scraped(first), 20, f"only {first} scraped")
            dropped = {
                t["discoveredLabels"]["__address__"]
                for t in server.api("targets")["droppedTargets"]
            }
            assert dropped == {OFF_MACHINE, EXCLUDED}
            assert server.values("probe_up", "instance") == {first: 1.0}

            _write(sd_file, [second])  # a node left, another joined
            wait_until(lambda: scraped(second), 20, f"{second} found in the rewritten file")

            rules = [r for g in server.api("rules")["groups"] for r in g["rules"]]
            expected = [r["alert"] for g in alert_rule_groups() for r in g["rules"]]
            assert sorted(r["name"] for r in rules) == sorted(expected)
        finally:
            server.stop()
    assert not server.data_dir.exists()
