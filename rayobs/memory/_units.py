"""Byte counts for people: the ``--units`` choices and their formatting.

Decimal units (1 KB = 1000 B), as ``ray memory`` uses. JSON output always
carries plain bytes; units only shape text.
"""

from __future__ import annotations

import re
from enum import Enum


class Units(str, Enum):
    """How sizes are shown (``--units``); ``auto`` picks the largest unit that fits."""

    B = "B"
    KB = "KB"
    MB = "MB"
    GB = "GB"
    AUTO = "auto"


SCALE = {Units.B: 1, Units.KB: 10**3, Units.MB: 10**6, Units.GB: 10**9}


def format_bytes(nbytes: int | None, units: Units = Units.AUTO) -> str:
    """``nbytes`` in ``units``; ``?`` when the size is unknown.

    >>> format_bytes(5_000_254), format_bytes(5_000_254, Units.KB), format_bytes(None)
    ('5.00 MB', '5000.25 KB', '?')
    """
    if nbytes is None or nbytes < 0:
        return "?"
    if units is Units.AUTO:
        units = next(
            (u for u in (Units.GB, Units.MB, Units.KB) if abs(nbytes) >= SCALE[u]), Units.B
        )
    if units is Units.B:
        return f"{nbytes} B"
    return f"{nbytes / SCALE[units]:.2f} {units.value}"


def format_delta(nbytes: int, units: Units = Units.AUTO) -> str:
    """A signed size change: ``+1.20 MB``, ``-512 B``, ``0 B``."""
    if nbytes == 0:
        return "0 B"
    sign = "+" if nbytes > 0 else "-"
    return sign + format_bytes(abs(nbytes), units)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMG]?B?)\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes from ``100MB``, ``1.5GB``, ``512KB``, ``4096`` (decimal units).

    >>> parse_size("100MB"), parse_size("2kb"), parse_size("7")
    (100000000, 2000, 7)
    """
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"not a size: {text!r} (examples: 100MB, 1.5GB, 4096)")
    number, unit = match.groups()
    unit = unit.upper()
    if unit and not unit.endswith("B"):
        unit += "B"
    scale = SCALE[Units(unit)] if unit else 1
    return int(float(number) * scale)
