"""Python imports this at start-up when ``rayobs run`` put its directory on ``PYTHONPATH``.

It imports rayobs, which turns auto mode on (``RAYOBS_AUTO=1``, set by
``rayobs run``) before the program's first line, then runs the
``sitecustomize`` this one hides, if there is one. Like
``opentelemetry-instrument``'s, it never stops the program: a failure is one
line on stderr.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys


def _start() -> None:
    try:
        import rayobs  # noqa: F401  (RAYOBS_AUTO=1 turns auto mode on)
    except Exception as exc:
        print(f"rayobs run: auto mode is off in {sys.executable}: {exc!r}", file=sys.stderr)


def _next_sitecustomize() -> None:
    """Run the ``sitecustomize`` that would have run without this directory first."""
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # as Python's site module does with a failing one
        print(f"Error in sitecustomize; set PYTHONVERBOSE for traceback: {exc!r}", file=sys.stderr)


_start()
_next_sitecustomize()
