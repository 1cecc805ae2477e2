"""Dependent tasks (a small DAG), traced: one trace from the driver through every task.

After the task-dependency example of the Ray 101 tutorial: two independent
tasks run in parallel and a third takes both results. Passing the ``ObjectRef``
values on is enough for Ray to run the third only when the first two are done.
With ``rayobs.instrument(trace=True)`` each task call is a span whose parent is
the driver's span, carried across ``.remote()`` without changing any signature.

Workers write their spans to JSON-lines files in ``--spans`` (one file per
process, no collector needed); read them back with ``rayobs.otel.read_spans``::

    python docs/examples/task_dag_tracing.py --address 127.0.0.1:6379 --spans /tmp/dag-spans

To send the spans to an OpenTelemetry collector instead, use ``otlp`` for both
exporters and set ``OTEL_EXPORTER_OTLP_ENDPOINT``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import ray
from opentelemetry import trace

import rayobs
import rayobs.otel


@ray.remote
@rayobs.instrument(trace=True)
def load_orders() -> list[tuple[str, float]]:
    time.sleep(0.2)  # stands in for a query
    return [("book", 12.0), ("lamp", 30.0), ("pen", 2.5)]


@ray.remote
@rayobs.instrument(trace=True)
def load_exchange_rate() -> float:
    time.sleep(0.2)
    return 0.5


@ray.remote
@rayobs.instrument(trace=True)
def convert(orders: list[tuple[str, float]], rate: float) -> dict[str, float]:
    return {item: price * rate for item, price in orders}


def main(address: str | None, spans_dir: str) -> dict[str, float]:
    """Run the DAG under one driver span; print the prices and the trace's spans."""
    exporter = f"jsonl:{spans_dir}"
    rayobs.otel.configure_tracing(exporter)  # this process (the driver)
    ray.init(
        address=address,
        ignore_reinit_error=True,
        runtime_env={"env_vars": {"RAYOBS_TRACE_EXPORTER": exporter}},  # every worker
    )
    with trace.get_tracer("task_dag_tracing").start_as_current_span("price-orders") as root:
        orders = load_orders.remote()
        rate = load_exchange_rate.remote()
        prices = ray.get(convert.remote(orders, rate))  # Ray resolves both refs first
    rayobs.otel.flush()
    print(f"prices: {prices}")
    trace_id = f"{root.get_span_context().trace_id:032x}"
    print(f"trace {trace_id}:")
    for line in span_tree(wait_for_trace(spans_dir, trace_id, expected=4)):
        print(line)
    return prices


def wait_for_trace(spans_dir: str, trace_id: str, expected: int) -> list[dict[str, Any]]:
    """The trace's spans once ``expected`` are on disk (workers export every 0.5 s).

    Wait for them before the script ends: Ray ends a job's workers when its
    driver exits, without giving them time to export what they still hold.
    """
    deadline = time.monotonic() + 10
    while True:
        spans = [s for s in rayobs.otel.read_spans(spans_dir) if s["trace_id"] == trace_id]
        if len(spans) >= expected or time.monotonic() > deadline:
            return spans
        time.sleep(0.1)


def span_tree(spans: list[dict[str, Any]]) -> list[str]:
    """One line per span, children under their parent, in order of start."""
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in sorted(spans, key=lambda s: s["start_time_unix_nano"]):
        children.setdefault(span["parent_span_id"], []).append(span)
    start = min((s["start_time_unix_nano"] for s in spans), default=0)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in children.get(parent, []):
            begin = (span["start_time_unix_nano"] - start) / 1e9
            end = (span["end_time_unix_nano"] - start) / 1e9
            lines.append(f"{'  ' * depth}{span['name']}  {begin:.2f}-{end:.2f} s")
            walk(span["span_id"], depth + 1)

    walk(None, 1)
    return lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--address",
        help="Ray cluster to join (default: the one `ray start` ran here, else a new local one)",
    )
    parser.add_argument("--spans", default="/tmp/rayobs-dag-spans", help="directory for spans")
    args = parser.parse_args()
    main(args.address, args.spans)
