"""Build-time helpers for the documentation site (loaded by mkdocs.yml, never shipped).

- ``RstDocstrings``: a griffe extension so the package's docstrings, written in
  plain reST-flavoured text with doctest examples, render as Markdown in the API
  reference (doctests fenced as ``pycon``, ``::`` literal blocks, ``:func:`` roles).
- The configuration page: ``docs/configuration.md`` is generated from
  ``rayobs._config.SETTINGS``. ``python docs/hooks.py`` rewrites it; the build
  warns (and so fails under ``--strict``) when the committed page is stale, and
  ``tests/unit/test_docs_config.py`` checks the same.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Any

import griffe

DOCS = Path(__file__).resolve().parent
CONFIGURATION_PAGE = DOCS / "configuration.md"

log = logging.getLogger("mkdocs.plugins.rayobs")

# ---------------------------------------------------------------- docstrings

_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|exc|obj):`~?([^`]+)`")


def rst_to_markdown(text: str) -> str:
    """Fence doctest blocks, turn ``::`` literal blocks into code, drop reST roles."""
    text = _ROLE.sub(r"``\1``", text)
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith(">>>"):
            indent = line[: len(line) - len(stripped)]
            block: list[str] = []
            while i < len(lines) and lines[i].strip() and lines[i].startswith(indent):
                block.append(lines[i][len(indent) :])
                i += 1
            out += [f"{indent}```pycon", *(indent + b for b in block), f"{indent}```"]
            continue
        if stripped.endswith("::") and not stripped.startswith("-"):
            # reST literal block: "Text::" then a blank line and an indented block
            out.append(line[:-2].rstrip() + ":" if stripped != "::" else "")
            i += 1
            while i < len(lines) and not lines[i].strip():
                i += 1
            base = len(line) - len(stripped)
            block = []
            while i < len(lines) and (
                not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > base
            ):
                block.append(lines[i])
                i += 1
            while block and not block[-1].strip():
                block.pop()
            cut = min((len(b) - len(b.lstrip()) for b in block if b.strip()), default=0)
            pad = " " * base
            out += ["", f"{pad}```python", *(pad + b[cut:] for b in block), f"{pad}```", ""]
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


class RstDocstrings(griffe.Extension):
    """Rewrite every docstring griffe loads with :func:`rst_to_markdown`."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)


# ---------------------------------------------------------------- configuration page

_PAGE_HEAD = """\
# Configuration

<!-- Generated from rayobs._config.SETTINGS by `python docs/hooks.py`: do not edit by hand. -->

Every `RAYOBS_*` variable rayobs reads, with its default. Each is read when it is
needed, not at import, so a worker setup hook, a job's `runtime_env` or a test can
change it; `rayobs.configure(...)` overrides some of them for one process.

Set them where the code runs: in the driver's environment, in
`ray.init(runtime_env={"env_vars": {...}})` for a job's workers, or in the
environment of `ray start` for every worker of a node.

| variable | default | meaning |
|---|---|---|
"""

_PAGE_TAIL = """
`rayobs diagnose` and `rayobs memory` also read Ray's own variables to find and join a
cluster: `RAY_ADDRESS`, `RAY_AUTH_MODE`, `RAY_AUTH_TOKEN` and `RAY_AUTH_TOKEN_PATH`. For a
local cluster that listens on 127.0.0.1 only, set `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` where
Ray runs ([Prometheus on VMs](prometheus.md#one-machine-loopback-only)).
"""


_QUOTED = re.compile(r"(?<!\w)'([^'\s]+)'(?!\w)")


def _cell(text: str) -> str:
    """One table cell: one line, quoted values as code (``'__other__'`` is not bold)."""
    return _QUOTED.sub(r"`\1`", " ".join(text.split())).replace("|", "\\|")


def configuration_page() -> str:
    """The whole configuration page, one table row per ``rayobs._config.SETTINGS`` entry."""
    from rayobs import _config

    rows = [
        f"| `{s.env}` | `{s.default}` | {_cell(s.help)} |"
        if s.default
        else f"| `{s.env}` | (empty) | {_cell(s.help)} |"
        for s in _config.SETTINGS
    ]
    return _PAGE_HEAD + "\n".join(rows) + "\n" + _PAGE_TAIL


def on_pre_build(config: Any, **kwargs: Any) -> None:
    """Warn (an error under ``--strict``) when the committed configuration page is stale."""
    current = CONFIGURATION_PAGE.read_text() if CONFIGURATION_PAGE.exists() else ""
    if current != configuration_page():
        log.warning(
            "docs/configuration.md is out of date with rayobs._config.SETTINGS: "
            "run `python docs/hooks.py` and commit the result"
        )


if __name__ == "__main__":
    CONFIGURATION_PAGE.write_text(configuration_page())
    sys.stdout.write(f"wrote {CONFIGURATION_PAGE}\n")
