"""Handles for the metrics rayobs records itself, one per spec of the catalog.

The catalog (``rayobs.metrics._catalog``) is pure data that generators read; the
code that records (the call records, the worker hook) records through these.
"""

from __future__ import annotations

from rayobs.metrics import _catalog
from rayobs.metrics._handles import Counter, Gauge, Histogram, handle_for

CALLS: Counter = handle_for(_catalog.CALLS)
CALL_ERRORS: Counter = handle_for(_catalog.CALL_ERRORS)
CALL_DURATION: Histogram = handle_for(_catalog.CALL_DURATION)
CALLS_IN_FLIGHT: Gauge = handle_for(_catalog.CALLS_IN_FLIGHT)
CALL_MEMORY: Histogram = handle_for(_catalog.CALL_MEMORY)
WORKER_RSS: Gauge = handle_for(_catalog.WORKER_RSS)
WORKER_RSS_PEAK: Gauge = handle_for(_catalog.WORKER_RSS_PEAK)
