"""The shipped dashboards, their files, and the check that the committed files are current.

``dashboards/*.json`` in the repository are generated: ``rayobs dashboards
build`` writes them, and a test fails when a file differs from what the code
renders now.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rayobs.dashboards._model import Dashboard

DEMO_MODULE = "rayobs.demo.workload"


def shipped() -> tuple[Dashboard, ...]:
    """Tasks & actors, Memory & incidents, and the demo workload's app dashboard.

    Building the demo's imports ``rayobs.demo.workload`` (and so Ray).
    """
    from rayobs.dashboards._app import app_dashboard, import_handles
    from rayobs.dashboards._builtin import memory_and_incidents, tasks_and_actors

    return (
        tasks_and_actors(),
        memory_and_incidents(),
        app_dashboard(DEMO_MODULE, import_handles(DEMO_MODULE)),
    )


@dataclass(frozen=True)
class Rendered:
    """A dashboard with its file name and file text."""

    dashboard: Dashboard
    file_name: str
    text: str
    data: dict[str, Any]


def render_all(dashboards: Iterable[Dashboard]) -> tuple[Rendered, ...]:
    """Render each dashboard to its JSON text (imports the grafana-foundation-sdk)."""
    from rayobs.dashboards._render import render, to_text

    out = []
    for dashboard in dashboards:
        data = render(dashboard)
        name = dashboard.file_name or f"{dashboard.uid}.json"
        out.append(Rendered(dashboard, name, to_text(data), data))
    return tuple(out)


def write(rendered: Iterable[Rendered], directory: Path) -> tuple[Path, ...]:
    """Write each file into ``directory`` (created if missing); return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for item in rendered:
        path = directory / item.file_name
        path.write_text(item.text, encoding="utf-8")
        paths.append(path)
    return tuple(paths)


def stale(rendered: Iterable[Rendered], directory: Path) -> tuple[str, ...]:
    """File names in ``directory`` that are missing or differ from ``rendered``."""
    out = []
    for item in rendered:
        path = directory / item.file_name
        if not path.is_file() or path.read_text(encoding="utf-8") != item.text:
            out.append(item.file_name)
    return tuple(out)
