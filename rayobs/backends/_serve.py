"""Expose the prometheus backend's metrics over HTTP, on loopback by default."""

from __future__ import annotations

from typing import Any


def serve_metrics(port: int = 0, addr: str = "127.0.0.1", registry: Any = None) -> int:
    """Serve ``/metrics`` for the prometheus backend and return the bound port.

    ``port=0`` picks a free port. Binds to 127.0.0.1 unless told otherwise: a
    metrics endpoint is not something to expose by accident.

    >>> import rayobs
    >>> port = rayobs.serve_metrics()  # doctest: +SKIP
    """
    import prometheus_client

    server, _thread = prometheus_client.start_http_server(
        port, addr=addr, registry=registry if registry is not None else prometheus_client.REGISTRY
    )
    return int(server.server_port)
