"""The configuration table in the docs lists every RAYOBS_* variable the code declares."""

from __future__ import annotations

from pathlib import Path

from rayobs import _config

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def test_every_setting_is_documented_with_its_default() -> None:
    text = DOC.read_text()
    missing = [s.env for s in _config.SETTINGS if f"| `{s.env}` | `{s.default}` |" not in text]
    assert missing == [], f"document these in docs/metrics.md: {missing}"
