"""``rayobs dashboards import`` against an HTTP stand-in for Grafana on 127.0.0.1.

No Grafana server can be installed here, so these tests run the real command
(grafana-client over real HTTP) against a small server that follows Grafana's
documented HTTP API: the status codes and bodies of ``GET /api/health``,
``GET/POST /api/folders``, ``GET /api/dashboards/uid/:uid`` and
``POST /api/dashboards/db`` (200 with ``{id, uid, url, status, version}``;
400 for an invalid dashboard; 401 ``{"message": "Unauthorized"}``; 403
``{"message": "Access denied"}``; 412 with ``status`` ``version-mismatch``;
409 when a folder exists). It is a stand-in: behaviour beyond those documented
responses (schema migration, permissions per folder) is not modelled.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rayobs.cli import cli
from rayobs.dashboards._grafana import GrafanaImportError, credential_from_env, folder_uid
from tests import requires
from tests.harness import free_port, loopback_http

requires.module("grafana_client", "grafana")
requires.module("grafana_foundation_sdk", "grafana")

TOKEN = "glsa_test_token_that_must_never_be_printed"
VIEWER_TOKEN = "glsa_viewer_token"


@dataclass
class FakeGrafana:
    """State of the stand-in: folders, dashboards, the requests it saw."""

    folders: dict[str, str] = field(default_factory=dict)  # uid -> title
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)  # uid -> stored
    conflict_uids: set[str] = field(default_factory=set)  # answer 412 when saved
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, auth
    basic: str = ""  # accepted "Basic ..." header value, if any


def _handler(state: FakeGrafana) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep pytest output clean
            pass

        def _send(self, code: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _role(self) -> str | None:
            auth = self.headers.get("Authorization", "")
            if auth == f"Bearer {TOKEN}" or (state.basic and auth == state.basic):
                return "editor"
            if auth == f"Bearer {VIEWER_TOKEN}":
                return "viewer"
            return None

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"null")

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            state.requests.append(("GET", path, self.headers.get("Authorization", "")))
            if path == "/api/health":  # documented: no authentication needed
                self._send(200, {"commit": "abc", "database": "ok", "version": "11.0.0"})
                return
            if self._role() is None:
                self._send(401, {"message": "Unauthorized"})
                return
            if path == "/api/folders":
                self._send(
                    200,
                    [
                        {"id": i, "uid": u, "title": t}
                        for i, (u, t) in enumerate(state.folders.items(), 1)
                    ],
                )
            elif path.startswith("/api/dashboards/uid/"):
                uid = path.rsplit("/", 1)[1]
                if uid in state.dashboards:
                    self._send(200, state.dashboards[uid])
                else:
                    self._send(404, {"message": "Dashboard not found"})
            else:
                self._send(404, {"message": "Not found"})

        def do_POST(self) -> None:
            path = self.path.split("?")[0]
            state.requests.append(("POST", path, self.headers.get("Authorization", "")))
            role = self._role()
            if role is None:
                self._send(401, {"message": "Unauthorized"})
                return
            if role != "editor":
                self._send(403, {"message": "Access denied"})
                return
            body = self._body()
            if path == "/api/folders":
                uid = body.get("uid") or f"f{len(state.folders)}"
                if uid in state.folders:
                    self._send(409, {"message": "a folder with the same uid already exists"})
                    return
                state.folders[uid] = body["title"]
                self._send(
                    200,
                    {
                        "id": len(state.folders),
                        "uid": uid,
                        "title": body["title"],
                        "url": f"/dashboards/f/{uid}/",
                        "version": 1,
                    },
                )
            elif path == "/api/dashboards/db":
                self._save(body)
            else:
                self._send(404, {"message": "Not found"})

        def _save(self, body: Any) -> None:
            dashboard = body.get("dashboard") if isinstance(body, dict) else None
            if not isinstance(dashboard, dict) or not dashboard.get("title"):
                self._send(400, {"message": "Dashboard title cannot be empty"})
                return
            uid = dashboard.get("uid") or "generated"
            folder = body.get("folderUid") or ""
            if folder and folder not in state.folders:
                self._send(400, {"message": "folder not found"})
                return
            if uid in state.conflict_uids:
                self._send(
                    412,
                    {
                        "message": "The dashboard has been changed by someone else",
                        "status": "version-mismatch",
                    },
                )
                return
            if uid in state.dashboards and not body.get("overwrite"):
                self._send(
                    412,
                    {
                        "message": "A dashboard with the same uid already exists",
                        "status": "name-exists",
                    },
                )
                return
            version = state.dashboards.get(uid, {}).get("dashboard", {}).get("version", 0) + 1
            stored = {**dashboard, "id": 7, "uid": uid, "version": version}
            url = f"/d/{uid}/slug"
            state.dashboards[uid] = {
                "dashboard": stored,
                "meta": {"folderUid": folder, "url": url, "slug": "slug"},
            }
            self._send(
                200,
                {
                    "id": 7,
                    "uid": uid,
                    "url": url,
                    "status": "success",
                    "version": version,
                    "slug": "slug",
                },
            )

    return Handler


@pytest.fixture
def grafana() -> Iterator[tuple[str, FakeGrafana]]:
    state = FakeGrafana()
    with loopback_http(_handler(state)) as address:
        yield f"http://{address}", state


def _import(url: str, *args: str, env: dict[str, str] | None = None) -> Any:
    environment = {"GRAFANA_TOKEN": TOKEN} if env is None else env
    for name in ("GRAFANA_TOKEN", "GRAFANA_TOKEN_FILE", "GRAFANA_USER", "GRAFANA_PASSWORD"):
        environment.setdefault(name, "")
    return CliRunner().invoke(cli, ["dashboards", "import", "--url", url, *args], env=environment)


def test_creates_folder_and_dashboards_then_is_idempotent(
    grafana: tuple[str, FakeGrafana],
) -> None:
    url, state = grafana
    first = _import(url, "--folder", "Ray")
    assert first.exit_code == 0, first.output
    assert state.folders == {folder_uid("Ray"): "Ray"}
    assert set(state.dashboards) == {
        "rayobs-tasks-actors",
        "rayobs-memory-incidents",
        "rayobs-app-rayobs-demo-workload",
    }
    assert all(d["meta"]["folderUid"] == "rayobs-ray" for d in state.dashboards.values())
    assert first.output.count("created") == 3
    saves = sum(1 for method, path, _ in state.requests if path == "/api/dashboards/db")

    again = _import(url, "--folder", "Ray")
    assert again.exit_code == 0, again.output
    assert again.output.count("unchanged") == 3
    assert len(state.folders) == 1  # found, not created twice
    assert sum(1 for _, path, _ in state.requests if path == "/api/dashboards/db") == saves
    assert TOKEN not in first.output + again.output


def test_changed_dashboard_needs_overwrite(
    grafana: tuple[str, FakeGrafana], tmp_path: Path
) -> None:
    url, state = grafana
    source = Path(__file__).resolve().parents[2] / "dashboards" / "tasks-actors.json"
    assert _import(url, str(source)).exit_code == 0
    changed = json.loads(source.read_text())
    changed["title"] = "Renamed"
    path = tmp_path / "changed.json"
    path.write_text(json.dumps(changed))

    refused = _import(url, str(path))
    assert refused.exit_code == 2
    assert "already exists in Grafana and differs: pass --overwrite" in refused.output
    assert state.dashboards["rayobs-tasks-actors"]["dashboard"]["title"] != "Renamed"

    replaced = _import(url, "--overwrite", str(path))
    assert replaced.exit_code == 0, replaced.output
    assert "updated" in replaced.output
    stored = state.dashboards["rayobs-tasks-actors"]["dashboard"]
    assert (stored["title"], stored["version"]) == ("Renamed", 2)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"GRAFANA_TOKEN": "wrong"}, "refused the credentials (401 Unauthorized)"),
        ({}, "refused the credentials (401 Unauthorized)"),
        ({"GRAFANA_TOKEN": VIEWER_TOKEN}, "may not do this (403 Access denied)"),
    ],
)
def test_auth_errors_are_one_line(
    grafana: tuple[str, FakeGrafana], env: dict[str, str], expected: str
) -> None:
    url, _ = grafana
    result = _import(url, "--folder", "Ray", env=env)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rayobs: error: "), result.output
    assert expected in lines[0]
    assert "wrong" not in result.output and VIEWER_TOKEN not in result.output


def test_version_conflict_412(grafana: tuple[str, FakeGrafana]) -> None:
    url, state = grafana
    state.conflict_uids.add("rayobs-memory-incidents")
    result = _import(url)
    assert result.exit_code == 2
    assert "version conflict" in result.output and "version-mismatch" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_invalid_dashboard_400(grafana: tuple[str, FakeGrafana], tmp_path: Path) -> None:
    url, _ = grafana
    path = tmp_path / "untitled.json"
    path.write_text(json.dumps({"uid": "x", "title": "", "panels": []}))
    result = _import(url, str(path))
    assert result.exit_code == 2
    assert "rejected the dashboard as invalid" in result.output
    assert "Dashboard title cannot be empty" in result.output


def test_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = _import(url, "--timeout", "3")
    assert result.exit_code == 2
    assert result.output.startswith(f"rayobs: error: cannot reach Grafana at {url}")
    assert "Traceback" not in result.output


def test_token_file_and_basic_auth(grafana: tuple[str, FakeGrafana], tmp_path: Path) -> None:
    url, state = grafana
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    assert _import(url, env={"GRAFANA_TOKEN_FILE": str(token_file)}).exit_code == 0
    assert {auth for _, path, auth in state.requests if path != "/api/health"} == {
        f"Bearer {TOKEN}"
    }

    import base64

    state.basic = "Basic " + base64.b64encode(b"admin:s3cret").decode()
    result = _import(
        url, "--overwrite", env={"GRAFANA_USER": "admin", "GRAFANA_PASSWORD": "s3cret"}
    )
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output


def test_credentials_never_taken_from_arguments() -> None:
    result = CliRunner().invoke(cli, ["dashboards", "import", "--help"])
    assert "--token" not in result.output and "--password" not in result.output


def test_credential_errors(tmp_path: Path) -> None:
    with pytest.raises(GrafanaImportError, match="cannot read the token file"):
        credential_from_env({"GRAFANA_TOKEN_FILE": str(tmp_path / "missing")})
    with pytest.raises(GrafanaImportError, match="needs both"):
        credential_from_env({"GRAFANA_USER": "admin"})
    assert credential_from_env({}) is None
