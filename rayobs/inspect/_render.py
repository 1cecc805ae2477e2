"""Presenting a :class:`SerializabilityReport`: a readable tree, or JSON.

>>> from rayobs.inspect._report import Failure, SerializabilityReport
>>> report = SerializabilityReport(False, "task", (
...     Failure("task.__globals__['lock']", "_thread.lock", "TypeError: no", "Make it later."),))
>>> print(render_text(report))  # doctest: +NORMALIZE_WHITESPACE
task is not serializable: 1 object cannot be pickled.
<BLANKLINE>
task
`-- .__globals__['lock']  [1] _thread.lock
<BLANKLINE>
[1] task.__globals__['lock']
    type:  _thread.lock
    error: TypeError: no
    hint:  Make it later.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from typing import Any

from rayobs.inspect._report import SerializabilityReport

_RED = "\x1b[31m"
_BOLD = "\x1b[1m"
_DIM = "\x1b[2m"
_GREEN = "\x1b[32m"
_RESET = "\x1b[0m"
_WIDTH = 88


def split_path(path: str) -> list[str]:
    """Split an access path into steps: the root, then each ``.attr`` or ``[key]``.

    >>> split_path("task.__globals__['a.b'][0].conn")
    ['task', '.__globals__', "['a.b']", '[0]', '.conn']
    """
    steps: list[str] = []
    current: list[str] = []
    depth = 0
    quote = ""
    index = 0
    while index < len(path):
        char = path[index]
        if quote:
            current.append(char)
            if char == "\\" and index + 1 < len(path):
                current.append(path[index + 1])
                index += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
            current.append(char)
        elif depth == 0 and char in ".[" and current:
            steps.append("".join(current))
            current = [char]
            depth += char == "["
        else:
            depth += (char in "([") - (char in ")]")
            current.append(char)
        index += 1
    if current:
        steps.append("".join(current))
    return steps


@dataclass
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    failure: int | None = None  # 1-based number of the failure ending here


def _build_tree(paths: list[str]) -> dict[str, _Node]:
    roots: dict[str, _Node] = {}
    for number, path in enumerate(paths, start=1):
        level = roots
        node: _Node | None = None
        for step in split_path(path):
            node = level.setdefault(step, _Node())
            level = node.children
        if node is not None:
            node.failure = number
    return roots


def _tree_lines(
    level: dict[str, _Node], prefix: str, types: list[str], paint: dict[str, str]
) -> list[str]:
    lines: list[str] = []
    items = list(level.items())
    for position, (label, node) in enumerate(items):
        # Fold single-child chains into one line: .__globals__['cfg']['db']['lock'].
        while node.failure is None and len(node.children) == 1:
            (step, node), *_ = node.children.items()
            label += step
        last = position == len(items) - 1
        line = f"{prefix}{'`-- ' if last else '|-- '}{label}"
        if node.failure is not None:
            number = node.failure
            line += f"  {paint['red']}[{number}] {types[number - 1]}{paint['reset']}"
        lines.append(line)
        lines.extend(
            _tree_lines(node.children, prefix + ("    " if last else "|   "), types, paint)
        )
    return lines


def render_text(report: SerializabilityReport, *, color: bool = False) -> str:
    """A report as text: a verdict line, a tree of culprit paths, then one block per culprit.

    ``color`` adds ANSI colours (for terminals that asked for them).
    """
    paint = {"red": _RED, "bold": _BOLD, "dim": _DIM, "green": _GREEN, "reset": _RESET}
    if not color:
        paint = dict.fromkeys(paint, "")
    if report.serializable:
        return f"{paint['green']}{report.root} is serializable.{paint['reset']}"
    count = len(report.failures)
    noun = "object cannot" if count == 1 else "objects cannot"
    verdict = f"{report.root} is not serializable: {count} {noun} be pickled."
    lines = [f"{paint['bold']}{verdict}{paint['reset']}"]
    types = [failure.type for failure in report.failures]
    for root, node in _build_tree(list(report.paths)).items():
        lines.append("")
        lines.append(
            root + (f"  [{node.failure}] {types[node.failure - 1]}" if node.failure else "")
        )
        lines.extend(_tree_lines(node.children, "", types, paint))
    for number, failure in enumerate(report.failures, start=1):
        lines.append("")
        lines.append(f"{paint['bold']}[{number}] {failure.path}{paint['reset']}")
        lines.append(f"    type:  {failure.type}")
        lines.append(f"    error: {paint['red']}{failure.error}{paint['reset']}")
        hint = textwrap.wrap(failure.hint, _WIDTH - 11) or [""]
        lines.append(f"    hint:  {paint['dim']}{hint[0]}")
        lines.extend(f"           {more}" for more in hint[1:])
        if paint["dim"]:
            lines[-1] += paint["reset"]
    if report.truncated:
        lines.append("")
        lines.append(
            f"Search truncated: {report.truncated_reason}. A listed object may hide deeper "
            "culprits; raise max_depth/max_nodes (--max-depth/--max-nodes) to look further."
        )
    return "\n".join(lines)


def report_to_dict(report: SerializabilityReport) -> dict[str, Any]:
    """The JSON shape of a report.

    ``{"serializable", "root", "failures": [{"path", "type", "error", "hint"}], "truncated"}``

    >>> report_to_dict(SerializabilityReport(True, "task"))
    {'serializable': True, 'root': 'task', 'failures': [], 'truncated': False}
    """
    return {
        "serializable": report.serializable,
        "root": report.root,
        "failures": [
            {"path": f.path, "type": f.type, "error": f.error, "hint": f.hint}
            for f in report.failures
        ],
        "truncated": report.truncated,
    }


def render_json(report: SerializabilityReport, *, indent: int | None = 2) -> str:
    """The report as a JSON document (see :func:`report_to_dict` for its shape)."""
    return json.dumps(report_to_dict(report), indent=indent)
