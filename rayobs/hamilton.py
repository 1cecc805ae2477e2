"""Hamilton: per-node calls, errors and duration of a dataflow, with no change to it.

Pass ``NodeMetrics`` to the driver beside Hamilton's own adapters; every node is
counted where it runs (in process, or in Ray workers with ``h_ray``)::

    from hamilton import base, driver
    from hamilton.plugins import h_ray
    from rayobs.hamilton import NodeMetrics

    dr = (
        driver.Builder()
        .with_modules(features)
        .with_adapters(h_ray.RayGraphAdapter(base.DictResult()), NodeMetrics(trace=True))
        .build()
    )

Needs ``pip install 'rayobs[hamilton]'``. See ``docs/hamilton.md``.
"""

from __future__ import annotations

from rayobs.integrations.hamilton import NodeMetrics

__all__ = ["NodeMetrics"]
