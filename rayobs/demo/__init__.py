"""The demo behind ``rayobs demo`` (``make demo``): a small instrumented workload on a
local Ray, read back from Ray's metrics endpoint and, when installed, a local Prometheus."""
