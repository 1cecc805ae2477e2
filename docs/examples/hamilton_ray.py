"""A Hamilton dataflow on Ray, every node counted and traced where it runs.

The dataflow (``hamilton_features.py``) is unchanged; the driver adds Hamilton's
``RayGraphAdapter``, which makes each node a Ray task, and ``rayobs.hamilton.
NodeMetrics``, which counts each node's calls, errors and duration in the worker
that ran it (``component="features"``) and gives it a span under the driver's
``execute`` span::

    python docs/examples/hamilton_ray.py --address 127.0.0.1:6379 --spans /tmp/features-spans

Then, in Prometheus: ``sum by (name, outcome) (ray_rayobs_calls_total{component="features"})``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import hamilton_features
import ray
from hamilton import base, driver
from hamilton.plugins import h_ray

import rayobs.otel
from rayobs.hamilton import NodeMetrics

OUTPUTS = ["spend", "signups", "avg_3wk_spend", "spend_per_signup", "spend_zero_mean_unit_variance"]


def main(address: str | None, spans_dir: str) -> list[dict[str, Any]]:
    """Run the dataflow twice (the second time it fails); return the first run's spans."""
    exporter = f"jsonl:{spans_dir}"
    rayobs.otel.configure_tracing(exporter)  # the driver's execute span
    ray.init(
        address=address,
        ignore_reinit_error=True,
        runtime_env={
            "working_dir": str(Path(__file__).parent),  # the workers import hamilton_features
            "env_vars": {"RAYOBS_TRACE_EXPORTER": exporter},  # and export their spans there
        },
    )
    dr = (
        driver.Builder()
        .with_modules(hamilton_features)
        .with_adapters(
            h_ray.RayGraphAdapter(result_builder=base.PandasDataFrameResult()),
            NodeMetrics("features", tags={"app": "marketing"}, trace=True),
        )
        .build()
    )
    inputs = {
        "spend_data": [10.0, 10.0, 20.0, 40.0, 40.0, 50.0],
        "signups_data": [1, 10, 50, 100, 200, 400],
    }
    df = dr.execute(OUTPUTS, inputs=inputs)
    print(df.round(2).to_string())
    try:
        dr.execute(OUTPUTS, inputs={**inputs, "spend_data": [10.0] * 6})
    except ZeroDivisionError as exc:  # a RayTaskError(ZeroDivisionError)
        print(f"second run failed: {str(exc).strip().splitlines()[-1]}")
    rayobs.otel.flush()
    return first_trace(spans_dir, expected=9)  # execute and its 8 nodes


def first_trace(spans_dir: str, expected: int) -> list[dict[str, Any]]:
    """The first execute span's trace, once its spans are on disk (workers export every 0.5 s)."""
    deadline = time.monotonic() + 15
    while True:
        spans = rayobs.otel.read_spans(spans_dir)
        runs = sorted(
            (s for s in spans if s["name"] == "execute"), key=lambda s: s["start_time_unix_nano"]
        )
        trace = [s for s in spans if runs and s["trace_id"] == runs[0]["trace_id"]]
        if len(trace) >= expected or time.monotonic() > deadline:
            return trace
        time.sleep(0.1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--address",
        help="Ray cluster to join (default: the one `ray start` ran here, else a new local one)",
    )
    parser.add_argument("--spans", default="/tmp/rayobs-features-spans", help="directory for spans")
    args = parser.parse_args()
    for span in main(args.address, args.spans):
        print(f"span {span['name']}")
