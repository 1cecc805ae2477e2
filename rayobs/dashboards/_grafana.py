"""Import dashboards into Grafana over its HTTP API, with grafana-client.

Credentials come from the environment only (never a command-line argument,
which would land in shell history and ``ps``), and are never printed:

- ``GRAFANA_TOKEN``: a service account token (sent as ``Authorization: Bearer``);
- ``GRAFANA_TOKEN_FILE``: a file holding one (e.g. a mounted Kubernetes secret);
- ``GRAFANA_USER`` and ``GRAFANA_PASSWORD``: basic auth.

Importing is idempotent: a dashboard whose stored copy already equals ours is
left alone, a missing one is created, a different one is replaced only with
``overwrite``. Every failure becomes one ``GrafanaImportError`` line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

TOKEN = "GRAFANA_TOKEN"
TOKEN_FILE = "GRAFANA_TOKEN_FILE"
USER = "GRAFANA_USER"
PASSWORD = "GRAFANA_PASSWORD"

# Fields Grafana sets itself on save: not part of what we compare.
_VOLATILE = ("id", "version")


class GrafanaImportError(Exception):
    """A one-line reason why the import stopped (no credentials in it)."""


class Outcome(str, Enum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Imported:
    uid: str
    title: str
    outcome: Outcome
    url: str


def credential_from_env(env: Mapping[str, str] | None = None) -> str | tuple[str, str] | None:
    """The token or (user, password) the environment names; ``None`` for anonymous access.

    >>> credential_from_env({"GRAFANA_USER": "admin", "GRAFANA_PASSWORD": "pw"})
    ('admin', 'pw')
    """
    env = os.environ if env is None else env
    if env.get(TOKEN):
        return env[TOKEN].strip()
    if env.get(TOKEN_FILE):
        path = Path(env[TOKEN_FILE])
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise GrafanaImportError(
                f"cannot read the token file named by {TOKEN_FILE} ({path}): {exc.strerror}"
            ) from None
        if not token:
            raise GrafanaImportError(f"the token file named by {TOKEN_FILE} ({path}) is empty")
        return token
    if env.get(USER) or env.get(PASSWORD):
        if not (env.get(USER) and env.get(PASSWORD)):
            raise GrafanaImportError(f"basic auth needs both {USER} and {PASSWORD}")
        return (env[USER], env[PASSWORD])
    return None


def redact(url: str) -> str:
    """``url`` without any user:password part, for messages.

    >>> redact("http://admin:secret@127.0.0.1:3000/grafana")
    'http://127.0.0.1:3000/grafana'
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def folder_uid(title: str) -> str:
    """A stable folder uid from its title, so every import finds the same folder.

    >>> folder_uid("Ray / rayobs")
    'rayobs-ray-rayobs'
    """
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return f"rayobs-{slug}"[:40]


class _Client:
    """grafana-client calls, with its exceptions turned into one-line errors."""

    def __init__(self, url: str, credential: str | tuple[str, str] | None, timeout: float) -> None:
        from grafana_client.api import GrafanaApi

        self.where = redact(url)
        self.api = GrafanaApi.from_url(url, credential=credential, timeout=timeout)

    def call(self, what: str, fn: Any, *args: Any, ok: tuple[int, ...] = ()) -> Any:
        """``fn(*args)``; ``None`` when Grafana answers with a status in ``ok``."""
        import niquests
        from grafana_client.client import GrafanaException, GrafanaTimeoutError

        try:
            return fn(*args)
        except GrafanaTimeoutError:
            raise GrafanaImportError(
                f"Grafana at {self.where} did not answer in time ({what})"
            ) from None
        except GrafanaException as exc:
            if exc.status_code in ok:
                return None
            raise GrafanaImportError(_explain(exc, what, self.where)) from None
        except niquests.exceptions.RequestException as exc:
            reason = type(exc).__name__
            raise GrafanaImportError(f"cannot reach Grafana at {self.where}: {reason}") from None


def _message(response: Any) -> str:
    if isinstance(response, Mapping):
        text = str(response.get("message") or "")
        status = response.get("status")
        return f"{text} (status={status})" if status else text
    return str(response or "")[:200]


def _explain(exc: Any, what: str, where: str) -> str:
    code = int(getattr(exc, "status_code", 0) or 0)
    detail = _message(getattr(exc, "response", None))
    if code == 0:
        return f"cannot reach Grafana at {where}: {str(exc)[:200]}"
    if code == 401:
        return (
            f"Grafana at {where} refused the credentials (401 Unauthorized) while {what}: set "
            f"{TOKEN} to a valid service account token (or {TOKEN_FILE}, or {USER}/{PASSWORD})"
        )
    if code == 403:
        return (
            f"the Grafana credentials may not do this (403 Access denied) while {what}: the "
            "service account needs the Editor role (dashboards:write, folders:create)"
        )
    if code == 412:
        return (
            f"version conflict while {what} (412 Precondition failed: {detail}): the dashboard "
            "changed in Grafana meanwhile; re-run to compare again, or pass --overwrite"
        )
    if code == 400:
        return f"Grafana rejected the dashboard as invalid while {what} (400: {detail})"
    if code == 404:
        return f"not found while {what} (404: {detail}): is {where} Grafana's base URL?"
    return f"Grafana answered HTTP {code} while {what}: {detail}"


def _same(stored: Mapping[str, Any], ours: Mapping[str, Any]) -> bool:
    def strip(d: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if k not in _VOLATILE}

    return strip(stored) == strip(ours)


def import_dashboards(
    url: str,
    dashboards: Iterable[Mapping[str, Any]],
    folder: str | None = None,
    overwrite: bool = False,
    credential: str | tuple[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[Imported, ...]:
    """Create or update ``dashboards`` in the Grafana at ``url``; return what happened to each.

    ``folder`` (a title) is created when missing. Raises ``GrafanaImportError``.
    """
    client = _Client(url, credential, timeout)
    # /api/health needs no credentials: "unreachable" is told apart from "refused".
    client.call("checking /api/health", client.api.client.GET, "/health")
    target_folder = _ensure_folder(client, folder) if folder else ""
    out = []
    for dashboard in dashboards:
        uid = str(dashboard.get("uid") or "")
        title = str(dashboard.get("title") or "")
        if not uid:
            raise GrafanaImportError(f"dashboard {title!r} has no uid: rebuild it with rayobs")
        stored = _get(client, uid)
        if stored is not None:
            meta = stored.get("meta") or {}
            same_place = str(meta.get("folderUid") or "") == target_folder
            if same_place and _same(stored.get("dashboard") or {}, dashboard):
                out.append(Imported(uid, title, Outcome.UNCHANGED, str(meta.get("url", ""))))
                continue
            if not overwrite:
                raise GrafanaImportError(
                    f"dashboard {uid!r} already exists in Grafana and differs: pass --overwrite "
                    "to replace it"
                )
        body: dict[str, Any] = {
            "dashboard": {**dashboard, "id": None},
            "overwrite": stored is not None,
            "message": "rayobs dashboards import",
        }
        if target_folder:
            body["folderUid"] = target_folder
        saved = client.call(
            f"saving dashboard {uid!r}", client.api.dashboard.update_dashboard, body
        )
        outcome = Outcome.CREATED if stored is None else Outcome.UPDATED
        out.append(Imported(uid, title, outcome, str((saved or {}).get("url", ""))))
    return tuple(out)


def _get(client: _Client, uid: str) -> dict[str, Any] | None:
    """The stored dashboard and its meta, or ``None`` if Grafana has none with ``uid``."""
    found: dict[str, Any] | None = client.call(
        f"reading dashboard {uid!r}", client.api.dashboard.get_dashboard, uid, ok=(404,)
    )
    return found


def _ensure_folder(client: _Client, title: str) -> str:
    """The uid of the folder titled ``title``, creating it if needed."""
    folders = client.call("listing folders", client.api.folder.get_all_folders) or []
    for existing in folders:
        if existing.get("title") == title:
            return str(existing["uid"])
    uid = folder_uid(title)
    created = client.call(
        f"creating folder {title!r}", client.api.folder.create_folder, title, uid, ok=(409,)
    )
    # 409: someone created it meanwhile, under the uid we chose
    return str((created or {}).get("uid") or uid)
