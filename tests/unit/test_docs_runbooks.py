"""Every shipped alert has its runbook section, at the anchor its runbook_url names.

The alerts are read from the generated PrometheusRule in k8s/; the sections are the
``###`` headings under ``## Alerts`` in docs/runbooks.md, slugged the way the site's
Markdown ``toc`` extension (and GitHub) slug them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from markdown.extensions.toc import slugify

REPO = Path(__file__).resolve().parents[2]
RUNBOOKS = REPO / "docs" / "runbooks.md"


def _alerts() -> dict[str, dict[str, Any]]:
    alerts: dict[str, dict[str, Any]] = {}
    for path in sorted((REPO / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "PrometheusRule":
                for group in doc["spec"]["groups"]:
                    alerts.update({r["alert"]: r for r in group["rules"] if "alert" in r})
    assert alerts, "no PrometheusRule with alerts found in k8s/"
    return alerts


def _sections() -> dict[str, str]:
    """Alert sections of the runbooks page: anchor -> section text."""
    text = RUNBOOKS.read_text().split("\n## Alerts\n", 1)[1]
    parts = re.split(r"^### (.+)$", text, flags=re.MULTILINE)[1:]
    titles, bodies = parts[::2], parts[1::2]
    return {slugify(t.strip(), "-"): body for t, body in zip(titles, bodies, strict=True)}


def test_every_alert_has_a_section_at_its_runbook_anchor() -> None:
    sections = _sections()
    for name, rule in _alerts().items():
        url = rule["annotations"]["runbook_url"]
        assert url.endswith(f"runbooks.md#{name.lower()}"), f"{name}: runbook_url is {url}"
        assert name.lower() in sections, f"docs/runbooks.md has no section for {name}"


def test_no_section_for_an_alert_that_is_not_shipped() -> None:
    assert set(_sections()) == {name.lower() for name in _alerts()}


def test_each_section_names_the_commands_its_alert_names() -> None:
    sections = _sections()
    for name, rule in _alerts().items():
        named = set(re.findall(r"`rayobs ([a-z-]+)", rule["annotations"]["description"]))
        missing = sorted(c for c in named if f"rayobs {c}" not in sections[name.lower()])
        assert missing == [], f"the {name} runbook does not say to run: {missing}"
