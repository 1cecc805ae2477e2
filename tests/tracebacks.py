"""Which frames of a traceback run rayobs's own code.

A frame belongs to rayobs when its file lies inside the imported package's
directory, wherever the checkout is: a test file under ``~/rayobs/tests`` or
``/src/rayobs/rayobs/tests`` is the user's code here, not rayobs's.
"""

from __future__ import annotations

import re
import traceback
from pathlib import Path

import rayobs

PACKAGE_DIR = Path(rayobs.__file__).resolve().parent


def rayobs_frames(exc: BaseException) -> list[str]:
    """``file:line in function`` for every frame of ``exc`` (and of its causes) in rayobs.

    >>> rayobs_frames(ValueError("no traceback"))
    []
    """
    found: list[str] = []
    pending = [traceback.TracebackException.from_exception(exc)]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        found += [
            f"{frame.filename}:{frame.lineno} in {frame.name}"
            for frame in current.stack
            if in_package(frame.filename)
        ]
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
    return found


def in_package(filename: str) -> bool:
    """True when ``filename`` is one of the installed rayobs package's files."""
    if filename.startswith("<"):  # <string>, <frozen runpy>: no file
        return False
    return Path(filename).resolve().is_relative_to(PACKAGE_DIR)


_FILE_LINE = re.compile(r'File "([^"]+)", line \d+')


def rayobs_files_in(text: str) -> list[str]:
    """The files of rayobs among the frames of a traceback printed as ``text``.

    >>> rayobs_files_in('  File "/somewhere/rayobs/tests/app.py", line 3, in f')
    []
    """
    return [name for name in _FILE_LINE.findall(text) if in_package(name)]
