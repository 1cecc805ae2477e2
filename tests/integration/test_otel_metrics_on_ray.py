"""Handles recorded through OpenTelemetry in Ray workers, set up by the worker hook.

Ray 2.60 applies ``worker_process_setup_hook`` only from a job's runtime env, so a
separate driver joins the shared cluster with the hook in its job runtime env.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.harness import RayCluster, free_port

DRIVER = textwrap.dedent(
    """
    import json, sys, time, urllib.request
    import ray, rayobs

    port = int(sys.argv[2])
    ray.init(
        address=sys.argv[1],
        logging_level="ERROR",
        log_to_driver=False,
        runtime_env={
            "worker_process_setup_hook": "rayobs.otel.setup_worker",
            "env_vars": {"RAYOBS_OTEL_METRICS": f"prometheus:{port}"},
        },
    )
    CALLS = rayobs.Counter("otel_worker_calls", "Calls.", tag_keys=("route",))
    SECONDS = rayobs.Histogram(
        "otel_worker_seconds", "Time.", boundaries=(0.01, 0.1, 1.0), unit="seconds"
    )

    @ray.remote
    class Worker:
        def work(self, n):
            from rayobs.metrics import _registry
            for _ in range(n):
                CALLS.inc(tags={"route": "/a"})
                SECONDS.observe(0.05)
            return _registry.backend().name

    actor = Worker.remote()
    backend = ray.get(actor.work.remote(7))
    text = ""
    for _ in range(60):
        try:
            url = f"http://127.0.0.1:{port}/metrics"
            text = urllib.request.urlopen(url, timeout=5).read().decode()
        except OSError:
            text = ""
        if "otel_worker_calls" in text:
            break
        time.sleep(0.5)
    print(json.dumps({"backend": backend, "text": text}))
    """
)


def test_worker_setup_hook_records_handles_through_otel(ray_driver: RayCluster) -> None:
    port = free_port()
    out = subprocess.run(
        [sys.executable, "-c", DRIVER, ray_driver.address, str(port)],
        env=ray_driver.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["backend"] == "otel"
    samples = {
        line.rsplit(" ", 1)[0]: line.rsplit(" ", 1)[1]
        for line in result["text"].splitlines()
        if line and not line.startswith("#")
    }
    calls = [v for k, v in samples.items() if k.startswith("otel_worker_calls_total")]
    assert calls == ["7.0"], result["text"][-2000:]
    # seconds stay seconds: the handle's buckets, not the SDK's millisecond defaults
    buckets = {k: v for k, v in samples.items() if k.startswith("otel_worker_seconds_bucket")}
    assert any('le="0.1"' in k and v == "7.0" for k, v in buckets.items()), buckets
    assert not any('le="5000.0"' in k for k in buckets)
