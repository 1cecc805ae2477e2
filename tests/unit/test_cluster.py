"""Contacting a cluster, without one: addresses, environment, token settings, probes,
deadlines, the one-line errors that replace Ray's, and a dashboard naming its GCS."""

from __future__ import annotations

import doctest
import http.server
import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rayobs import _cluster
from rayobs._cluster import (
    ClusterAddress,
    ClusterUnavailable,
    RayInternalsChanged,
    alive_nodes,
    check_token_settings,
    explain,
    gcs_address,
    native_stderr_silenced,
    parse_address,
    prepare_environment,
    refuse_fast,
    within,
)
from tests.harness import free_port, loopback_http


def test_docstring_examples() -> None:
    result = doctest.testmod(_cluster)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize(
    ("text", "gcs", "dashboard"),
    [
        ("127.0.0.1:6379", "127.0.0.1:6379", None),
        ("ray-head.ray.svc:6379", "ray-head.ray.svc:6379", None),
        ("[::1]:6379", "[::1]:6379", None),
        ("http://127.0.0.1:8265", None, "http://127.0.0.1:8265"),
        ("https://ray.example.com/", None, "https://ray.example.com"),
        ("http://10.0.0.5:8265/prefix/", None, "http://10.0.0.5:8265/prefix"),
        ("auto", None, None),
        ("local", None, None),
        ("ray://head:10001", None, None),
    ],
)
def test_what_users_type(text: str, gcs: str | None, dashboard: str | None) -> None:
    named = parse_address(text, {"RAY_ADDRESS": "10.9.9.9:6379"})
    assert (named.text, named.source, named.gcs, named.dashboard) == (
        text,
        "--address",
        gcs,
        dashboard,
    )
    assert named.client == text.startswith("ray://")


def test_ray_address_is_read_the_same_way() -> None:
    named = parse_address(None, {"RAY_ADDRESS": "http://127.0.0.1:8265"})
    assert (named.source, named.dashboard, named.where) == (
        "RAY_ADDRESS",
        "http://127.0.0.1:8265",
        "http://127.0.0.1:8265",
    )
    assert parse_address(None, {}) == ClusterAddress(None, "RAY_ADDRESS")


@pytest.mark.parametrize(
    "text", ["127.0.0.1", "ftp://127.0.0.1:8265", "http://", "http://h:99999", "a:b:6379", " "]
)
def test_anything_else_is_one_line_naming_its_source(text: str) -> None:
    with pytest.raises(ClusterUnavailable, match=r"^--address takes .*HOST:PORT.*dashboard URL"):
        parse_address(text)
    with pytest.raises(ClusterUnavailable, match=r"^RAY_ADDRESS takes"):
        parse_address(None, {"RAY_ADDRESS": text})


def test_prepare_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    env: dict[str, str] = {"RAY_AUTH_TOKEN_PATH": "/x/token"}
    prepare_environment(env)
    assert env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0"
    assert env["RAY_AUTH_MODE"] == "token"
    explicit = {"RAY_AUTH_MODE": "disabled", "RAY_AUTH_TOKEN": "t"}
    prepare_environment(explicit)
    assert explicit["RAY_AUTH_MODE"] == "disabled"  # an explicit choice is kept
    bare: dict[str, str] = {}
    prepare_environment(bare)
    assert "RAY_AUTH_MODE" not in bare  # no token anywhere: leave Ray's default


def test_token_path_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ClusterUnavailable, match="cannot be read"):
        check_token_settings({"RAY_AUTH_TOKEN_PATH": str(tmp_path / "missing")})
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ClusterUnavailable, match="is empty"):
        check_token_settings({"RAY_AUTH_TOKEN_PATH": str(empty)})
    token = tmp_path / "token"
    token.write_text("abc")
    check_token_settings({"RAY_AUTH_TOKEN_PATH": str(token), "RAY_AUTH_MODE": "token"})


def test_token_mode_without_any_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ClusterUnavailable, match="no token is configured"):
        check_token_settings({"RAY_AUTH_MODE": "token"})
    check_token_settings({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "abc"})
    check_token_settings({})


def test_a_closed_port_is_refused_at_once() -> None:
    port = free_port()
    for target in (f"127.0.0.1:{port}", f"http://127.0.0.1:{port}"):
        with pytest.raises(ClusterUnavailable) as info:
            refuse_fast(target, 1.0)
        assert str(info.value) == f"no Ray cluster at {target}: nothing listens on that port"
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        listening = server.getsockname()[1]
        refuse_fast(f"127.0.0.1:{listening}", 1.0)  # listening: no error
        refuse_fast(f"http://127.0.0.1:{listening}/", 1.0)
    refuse_fast("auto", 1.0)  # no port: Ray's business


def test_within_gives_up_at_the_deadline() -> None:
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(ClusterUnavailable, match=r"^too slow \(timed out\)$"):
        within(time.monotonic() + 0.2, "too slow", release.wait, "here")
    assert time.monotonic() - started < 2
    release.set()


def test_within_hands_back_values_and_errors_in_one_line() -> None:
    assert within(time.monotonic() + 5, "slow", lambda: 42, "here") == 42

    def boom() -> None:
        raise ConnectionError("Could not find any running Ray instance.\nPlease start one.")

    with pytest.raises(ClusterUnavailable) as info:
        within(time.monotonic() + 5, "late", boom, "here")
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("no running Ray cluster found: pass --address")


class AuthenticationError(Exception):
    """Named like the one Ray's HTTP clients raise on 401 and 403."""


@pytest.mark.parametrize(
    ("error", "phrase"),
    [
        (RuntimeError("RPC error: InvalidAuthToken: Authentication token is missing"), "token"),
        (RuntimeError("401 Client Error: Unauthorized for url"), "refused our token"),
        (AuthenticationError("the cluster requires a token"), "refused our token"),
        (RuntimeError("Timed out while waiting for GCS to become available."), "no Ray cluster"),
        (AttributeError("module has no attribute 'node_table'"), "private API changed"),
        (ValueError("something else\nentirely"), "ValueError: something else entirely"),
    ],
    ids=["grpc-auth", "http-auth", "auth-error", "gcs-timeout", "internals", "other"],
)
def test_errors_are_explained_in_one_line(error: Exception, phrase: str) -> None:
    message = str(explain(error, "127.0.0.1:6379"))
    assert phrase in message
    assert "\n" not in message
    assert isinstance(explain(error, "x"), ClusterUnavailable)
    unavailable = ClusterUnavailable("as is")
    assert explain(unavailable, "x") is unavailable


def test_internals_are_a_kind_of_unavailable() -> None:
    assert isinstance(explain(ImportError("no module"), "x"), RayInternalsChanged)
    assert issubclass(RayInternalsChanged, ClusterUnavailable)


def test_native_stderr_is_silenced_and_restored(capfd: pytest.CaptureFixture[str]) -> None:
    with native_stderr_silenced():
        os.write(2, b"retrying the GCS\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_a_ray_client_address_names_no_gcs() -> None:
    with pytest.raises(ClusterUnavailable, match="Ray Client address"):
        alive_nodes("ray://127.0.0.1:10001", 1.0)


def test_a_dashboard_url_nobody_serves_is_refused_at_once() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    refused = re.escape(f"no Ray cluster at {url}: nothing listens")
    with pytest.raises(ClusterUnavailable, match=refused):
        alive_nodes(url, 5.0)
    assert time.monotonic() - started < 5


class _Dashboard(http.server.BaseHTTPRequestHandler):
    """Answers /nodes?view=summary as Ray 2.60's dashboard does (trimmed)."""

    status = 200
    body: object = {}

    def do_GET(self) -> None:
        payload = type(self).body
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def _summary(*cmdlines: list[str]) -> dict[str, object]:
    nodes = [{"ip": "127.0.0.1", "cmdline": cmdline} for cmdline in cmdlines]
    return {"result": True, "msg": "Node summary fetched.", "data": {"summary": nodes}}


@pytest.fixture
def dashboard() -> Iterator[str]:
    with loopback_http(_Dashboard) as address:
        yield f"http://{address}"
    _Dashboard.status, _Dashboard.body = 200, {}


def test_the_dashboard_names_the_gcs_in_its_raylets_command_lines(dashboard: str) -> None:
    raylet = ["/ray/raylet", "--node_ip_address=127.0.0.1", "--gcs-address=127.0.0.1:47289"]
    _Dashboard.body = _summary(["ray::DashboardAgent", ""], raylet)
    named = parse_address(dashboard)
    assert gcs_address(named, time.monotonic() + 5) == "127.0.0.1:47289"


def test_a_dashboard_without_a_raylet_yet_is_asked_until_the_deadline(dashboard: str) -> None:
    _Dashboard.body = _summary()
    started = time.monotonic()
    with pytest.raises(ClusterUnavailable, match="does not show its cluster's GCS address"):
        gcs_address(parse_address(dashboard), time.monotonic() + 1.5)
    assert 1.0 <= time.monotonic() - started < 5


def test_something_else_at_the_url_says_so(dashboard: str) -> None:
    _Dashboard.body = "<html>not a Ray dashboard</html>"
    with pytest.raises(RayInternalsChanged, match=r"not shaped as Ray 2\.60's dashboard"):
        gcs_address(parse_address(dashboard), time.monotonic() + 5)


def test_a_dashboard_that_refuses_the_token_is_one_line(dashboard: str) -> None:
    _Dashboard.status, _Dashboard.body = 401, {"error": "Unauthorized"}
    refused = re.escape(f"the cluster at {dashboard} refused our token")
    with pytest.raises(ClusterUnavailable, match=refused):
        within(
            time.monotonic() + 10,
            "late",
            lambda: gcs_address(parse_address(dashboard), time.monotonic() + 5),
            dashboard,
        )
