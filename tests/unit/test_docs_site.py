"""The documentation site builds with ``mkdocs build --strict``: no broken link, anchor or page.

One build per session; the other checks read the built HTML: the CLI reference lists
every command (the group registers them lazily), and the examples page holds the
example files' code (pymdownx.snippets).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rayobs.cli import COMMANDS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    problems = [
        line for line in result.stderr.splitlines() if line.startswith(("WARNING", "ERROR"))
    ]
    assert result.returncode == 0, "mkdocs build --strict failed:\n" + "\n".join(
        problems or result.stderr.splitlines()[-30:]
    )
    assert elapsed < 60, f"the docs build took {elapsed:.0f} s"
    yield out


def test_strict_build_has_every_page(site: Path) -> None:
    nav_pages = re.findall(r":\s+(\S+\.md)\s*$", (REPO / "mkdocs.yml").read_text(), re.MULTILINE)
    assert nav_pages, "no pages found in mkdocs.yml's nav"
    for page in nav_pages:
        built = site / ("index.html" if page == "index.md" else f"{page[:-3]}/index.html")
        assert built.exists(), f"{page} is in the nav but was not built"


def test_cli_reference_lists_every_lazily_registered_command(site: Path) -> None:
    html = (site / "cli" / "index.html").read_text()
    missing = [name for name in COMMANDS if f'id="rayobs-{name}"' not in html]
    assert missing == [], f"the CLI reference lacks: {missing}"


def test_examples_are_included_from_their_files(site: Path) -> None:
    html = (site / "examples" / "index.html").read_text()
    for path in sorted((REPO / "docs" / "examples").glob("*.py")):
        first_def = re.search(r"^(?:def|class) (\w+)", path.read_text(), re.MULTILINE)
        assert first_def is not None, path
        assert first_def[1] in html, f"{path.name} is not shown on the examples page"


def test_api_reference_renders_docstrings(site: Path) -> None:
    html = (site / "api" / "index.html").read_text()
    for name in ("rayobs.Counter", "rayobs.instrument", "rayobs.inspect_serializability"):
        assert f'id="{name}"' in html, f"{name} has no entry in the API reference"
    # doctests are fenced as pycon code (prompts highlighted), not read as Markdown quotes
    assert '<span class="gp">&gt;&gt;&gt; </span>' in html
    assert "<blockquote>" not in html
