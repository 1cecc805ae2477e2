"""Drive Serve on a private Ray and print what happened as one JSON line.

``python _serve_driver.py [apps|example]``: the test applications, or the docs'
Serve example.

Run by ``tests.harness.run_private`` in a network namespace of its own: a local
Ray (loopback only, throwaway token, metrics exported every 0.5 s), a Prometheus
scraping it, Serve's HTTP proxy on 127.0.0.1, the applications of
``_serve_apps`` bare and instrumented side by side. It calls both the same way
over HTTP and through handles, waits until Prometheus has scraped every count
and every span is written, and prints results, scraped series and spans.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

RUN_DIR = Path(os.environ["RAYOBS_RUN_DIR"])
SPANS = RUN_DIR / "spans"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"

HTTP = [
    ("calc", "/compute?x=1"),
    ("calc", "/compute?x=2"),
    ("calc", "/compute?x=3"),
    ("calc", "/compute?x=-1"),
    ("calc", "/missing?key=a"),
    ("calc", "/stream?n=5"),
    ("greet", "?name=ray"),
]


def _environment() -> None:
    from rayobs.demo._local_ray import prepare_environment

    prepare_environment(RUN_DIR)
    os.environ.update(
        RAY_metrics_report_interval_ms="500",
        RAY_SERVE_DEFAULT_HTTP_HOST="127.0.0.1",
        RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",
        RAYOBS_TRACE_EXPORTER=f"jsonl:{SPANS}",  # every replica inherits it
    )


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _outcome(call: Any) -> list[Any]:
    """A handle call's result, or its exception's type and text: the replica's
    traceback, without what differs between two replicas (ids, the app's name)."""
    try:
        return ["ok", call()]
    except Exception as exc:
        text = re.sub(r"(pid|ip|actor_id)=[\w.]+|0x[0-9a-f]+|repr=<[^>]*>", "X", str(exc))
        return [type(exc).__name__, text.replace("bare-", "")]


def _drive(serve: Any, http_port: int, prefix: str) -> dict[str, Any]:
    base = f"http://127.0.0.1:{http_port}"
    http = [_get(f"{base}/{prefix}{app}{path}") for app, path in HTTP]
    shout = serve.get_app_handle(f"{prefix}shout")
    calc = serve.get_app_handle(f"{prefix}calc")
    scaler = serve.get_deployment_handle("Scaler", app_name=f"{prefix}calc")
    handles = [
        _outcome(lambda: shout.remote("hi").result()),
        _outcome(lambda: shout.remote("").result()),
        _outcome(lambda: calc.compute.remote(5).result()),
        _outcome(lambda: list(scaler.options(method_name="count", stream=True).remote(3))),
        _outcome(lambda: scaler.remote(-2).result()),
    ]
    return {"http": http, "handles": handles}


def _traced_calls(serve: Any, http_port: int) -> None:
    """An HTTP request carrying a traceparent, and a handle call under a driver span."""
    header = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
    status, _ = _get(f"http://127.0.0.1:{http_port}/calc/compute?x=7", header)
    assert status == 200, status
    from opentelemetry import trace

    with trace.get_tracer("driver").start_as_current_span("driver"):
        serve.get_app_handle("shout").remote("traced").result()


def _series(prometheus: Any, query: str, labels: tuple[str, ...]) -> dict[str, float]:
    return {
        "|".join(r["metric"].get(k, "") for k in labels): float(r["value"][1])
        for r in prometheus.query(query)
    }


def _scraped(prometheus: Any, timeout: float = 60.0) -> dict[str, dict[str, float]]:
    """Every rayobs series, once Prometheus returned the same values 5 times in a row (4 s:
    replicas push within 0.1 s of a call, Ray exports every 0.5 s, Prometheus scrapes every 1 s).
    """
    queries = {
        "calls": (
            "sum by (app, component, kind, name, outcome) (ray_rayobs_calls_total)",
            ("app", "component", "kind", "name", "outcome"),
        ),
        "errors": (
            "sum by (app, component, name, exception) (ray_rayobs_call_errors_total)",
            ("app", "component", "name", "exception"),
        ),
        "durations": (
            "sum by (app, component, name) (ray_rayobs_call_duration_seconds_count)",
            ("app", "component", "name"),
        ),
        "in_flight": (
            "sum by (app, component, name) (ray_rayobs_calls_in_flight)",
            ("app", "component", "name"),
        ),
    }
    deadline = time.monotonic() + timeout
    last: dict[str, dict[str, float]] = {}
    same = 0
    while time.monotonic() < deadline:
        now = {key: _series(prometheus, q, labels) for key, (q, labels) in queries.items()}
        same = same + 1 if now == last and now["calls"] else 0
        if same == 4:
            return now
        last = now
        time.sleep(1.0)
    raise TimeoutError(f"Prometheus never settled: {json.dumps(last)}")


def _spans(wanted: set[str], timeout: float = 30.0) -> list[dict[str, Any]]:
    """The spans of the traced calls, once every name in ``wanted`` is among them."""
    import rayobs.otel

    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        rayobs.otel.flush()
        spans = rayobs.otel.read_spans(SPANS)
        roots = {TRACE_ID} | {s["trace_id"] for s in spans if s["name"] == "driver"}
        found = [s for s in spans if s["trace_id"] in roots]
        if wanted <= {s["name"] for s in found}:
            break
        time.sleep(0.5)
    return [
        {k: s[k] for k in ("name", "trace_id", "span_id", "parent_span_id", "attributes")}
        | {"status": s["status"]["code"]}
        for s in found
    ]


def _replica_errors() -> None:
    """The replicas' logged errors, on stderr: what a failing run needs to be read."""
    for log in sorted((RUN_DIR / "ray").glob("session_latest/logs/serve/replica_*.log")):
        text = log.read_text(errors="replace")
        if "Traceback" in text:
            print(f"==> {log.name}\n{text[-3000:]}", file=sys.stderr)


def _apps(http_port: int, prometheus: Any) -> dict[str, Any]:
    """``_serve_apps`` bare and instrumented, called alike; then traced calls."""
    from ray import serve

    from tests.integration import _serve_apps

    for instrumented, prefix in ((False, "bare-"), (True, "")):
        for name, app in _serve_apps.applications(instrumented).items():
            serve.run(app, name=prefix + name, route_prefix=f"/{prefix}{name}")
    bare = _drive(serve, http_port, "bare-")
    instrumented = _drive(serve, http_port, "")
    _traced_calls(serve, http_port)
    return {
        "bare": bare,
        "instrumented": instrumented,
        "scraped": _scraped(prometheus),
        "spans": _spans({"Api.compute", "Offset.__call__", "Scaler.__call__", "driver", "shout"}),
    }


def _example(http_port: int, prometheus: Any) -> dict[str, Any]:
    """``docs/examples/serve_reviews.py`` as its ``main`` runs it."""
    import importlib.util

    import ray.cloudpickle

    path = Path(__file__).resolve().parents[2] / "docs" / "examples" / "serve_reviews.py"
    spec = importlib.util.spec_from_file_location("serve_reviews", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    ray.cloudpickle.register_pickle_by_value(module)  # as a script's: the replicas lack the file
    spec.loader.exec_module(module)
    printed = module.main(http_port)
    spans = []
    for _ in range(60):
        spans = rayobs_spans()
        names = [s["name"] for s in spans]
        if min(names.count("Sentiment.__call__"), names.count("Reviews.classify")) >= 3:
            break
        time.sleep(0.5)
    return {"printed": printed, "scraped": _scraped(prometheus), "spans": spans}


def rayobs_spans() -> list[dict[str, Any]]:
    import rayobs.otel

    return [
        {k: s[k] for k in ("name", "trace_id", "span_id", "parent_span_id")}
        for s in rayobs.otel.read_spans(SPANS)
    ]


SCENARIOS = {"apps": _apps, "example": _example}


def main(argv: list[str]) -> None:
    scenario = SCENARIOS[argv[0] if argv else "apps"]
    started = time.monotonic()
    _environment()
    import ray
    from ray import serve

    import rayobs.otel
    from rayobs.demo._local_prometheus import LocalPrometheus
    from rayobs.demo._ports import free_port

    metrics_port = free_port()
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        _metrics_export_port=metrics_port,
        _temp_dir=str(RUN_DIR / "ray"),
        logging_level="ERROR",
        log_to_driver=False,
    )
    prometheus = None
    try:
        prometheus = LocalPrometheus.start([f"127.0.0.1:{metrics_port}"])
        rayobs.otel.configure_tracing(f"jsonl:{SPANS}", batch=False)
        http_port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": http_port})
        result = scenario(http_port, prometheus)
        result["seconds"] = round(time.monotonic() - started, 1)
        print(json.dumps(result), flush=True)
    except BaseException:
        _replica_errors()
        raise
    finally:
        try:
            serve.shutdown()
        finally:
            ray.shutdown()
            if prometheus is not None:
                prometheus.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
