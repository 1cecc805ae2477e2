"""Zero-code instrumentation: every Ray task, actor and Ray Data function, no decorator.

Turn it on before the program defines its remote functions, in code::

    import rayobs.auto
    rayobs.auto.instrument()

    @ray.remote            # instrumented as @rayobs.instrument would, defaults
    def resize(image_id): ...

or with nothing changed, from the command line (``rayobs run``) or the
environment (``RAYOBS_AUTO=1`` for code that imports rayobs)::

    rayobs run -- python job.py
    ray job submit -- rayobs run -- python job.py

What Ray and rayobs define is never touched, nor what opts out::

    @ray.remote
    @rayobs.auto.skip
    def hot_loop(x): ...

An explicit ``@rayobs.instrument(...)`` always wins over auto mode's defaults.
See ``rayobs.integrations.auto`` for how it works.
"""

from __future__ import annotations

from rayobs.integrations.auto import (
    instrument,
    is_instrumented,
    is_skipped,
    setup_worker,
    skip,
    uninstrument,
)

__all__ = ["instrument", "is_instrumented", "is_skipped", "setup_worker", "skip", "uninstrument"]
