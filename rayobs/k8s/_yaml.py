"""A small, deterministic YAML writer for the manifests rayobs generates.

Why not PyYAML: rayobs does not depend on it, its output cannot carry the
comments a Kubernetes example needs, and its quoting choices change between
versions (a stale-file test must compare byte for byte). This writer emits a
safe subset: block mappings and sequences, plain scalars only where YAML 1.1
and 1.2 read them back as the same string, JSON-style double quotes otherwise,
and literal blocks for multi-line text (PromQL, shell scripts, dashboard JSON).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# A plain scalar that no YAML version reads as anything but this string:
# it starts with a letter, '_' or '/', and has no ':', '#', spaces or quotes.
_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./-]*")
# YAML 1.1 booleans and nulls (Kubernetes' parser is YAML 1.1 flavoured).
_RESERVED_WORDS = frozenset(
    {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf"}
)
_INDENT = "  "


@dataclass(frozen=True)
class Commented:
    """A mapping value with comment lines written above its key."""

    value: Any
    comment: str


def dump_documents(documents: Sequence[Any], header: str = "") -> str:
    """Documents separated by ``---``, after an optional comment ``header``."""
    parts = [_comment_lines(header, "")] if header else []
    for index, document in enumerate(documents):
        if index or header:
            parts.append("---\n")
        parts.append(dump(document))
    return "".join(parts)


def dump(value: Any) -> str:
    """One YAML document for ``value`` (mappings, sequences, str, int, float, bool)."""
    if isinstance(value, Mapping):
        return "".join(_mapping(value, 0)) if value else "{}\n"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "".join(_sequence(value, 0)) if value else "[]\n"
    return _inline_scalar(value, 0) + "\n"


def _comment_lines(text: str, indent: str) -> str:
    return "".join(f"{indent}# {line}".rstrip() + "\n" for line in text.splitlines())


def _mapping(mapping: Mapping[str, Any], level: int) -> list[str]:
    indent = _INDENT * level
    lines: list[str] = []
    for key, raw in mapping.items():
        if not isinstance(key, str):
            raise TypeError(f"mapping keys must be strings, got {key!r}")
        value = raw
        if isinstance(raw, Commented):
            lines.append(_comment_lines(raw.comment, indent))
            value = raw.value
        prefix = f"{indent}{_key(key)}:"
        lines.extend(_entry(prefix, value, level))
    return lines


def _sequence(items: Sequence[Any], level: int) -> list[str]:
    indent = _INDENT * level
    lines: list[str] = []
    for item in items:
        if isinstance(item, Mapping) and item:
            # The first key shares the dash's line; the rest align under it.
            body = _mapping(item, level + 1)
            first = body[0]
            lines.append(f"{indent}- {first[len(indent) + len(_INDENT) :]}")
            lines.extend(body[1:])
        else:
            lines.extend(_entry(f"{indent}-", item, level))
    return lines


def _entry(prefix: str, value: Any, level: int) -> list[str]:
    """``prefix`` (``key:`` or ``-``) followed by ``value`` at nesting ``level``."""
    if isinstance(value, Mapping) and value:
        return [prefix + "\n", *_mapping(value, level + 1)]
    if isinstance(value, Sequence) and not isinstance(value, str) and value:
        return [prefix + "\n", *_sequence(value, level + 1)]
    return [f"{prefix} {_inline_scalar(value, level + 1)}\n"]


def _key(key: str) -> str:
    return key if _is_plain(key) else json.dumps(key, ensure_ascii=False)


def _is_plain(text: str) -> bool:
    return bool(_PLAIN.fullmatch(text)) and text.lower() not in _RESERVED_WORDS


def _inline_scalar(value: Any, level: int) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "[]"
    if not isinstance(value, str):
        raise TypeError(f"cannot write {type(value).__name__} {value!r} as YAML")
    if "\n" in value and _literal_ok(value):
        return _literal(value, level)
    return value if _is_plain(value) else json.dumps(value, ensure_ascii=False)


def _literal_ok(text: str) -> bool:
    """Whether a literal block reproduces ``text`` exactly.

    A first line starting with a space would need an indentation indicator,
    and control characters are not allowed in block scalars: such text is
    written double-quoted instead.
    """
    if text.startswith((" ", "\n")) or "\r" in text:
        return False
    return all(line.replace("\t", " ").isprintable() for line in text.split("\n"))


def _literal(text: str, level: int) -> str:
    """A literal block scalar; the chomping indicator keeps trailing newlines exact."""
    stripped = text.rstrip("\n")
    trailing = len(text) - len(stripped)
    indicator = "|-" if trailing == 0 else "|" if trailing == 1 else "|+"
    indent = _INDENT * level
    body = "\n".join(f"{indent}{line}" if line else "" for line in stripped.split("\n"))
    extra = "\n" * (trailing - 1) if trailing > 1 else ""
    return f"{indicator}\n{body}{extra}"
