"""The README's ten-line example runs and records what it says."""

from __future__ import annotations

import re
from pathlib import Path

from rayobs.testing import capture_metrics

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_example_records_failures_and_latency() -> None:
    section = README.read_text().split("## Ten lines", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    namespace: dict[str, object] = {}
    exec(compile(code.group(1), "README.md", "exec"), namespace)
    withdraw = namespace["withdraw"]
    body = withdraw._function  # type: ignore[attr-defined]  # what Ray runs in the worker
    with capture_metrics() as metrics:
        assert body("north", 50) is True
        assert body("north", 500) is False
    assert metrics.value("withdrawal_failures", bank="north") == 1.0
    latency = metrics.histogram("withdraw_seconds")
    assert latency is not None and latency.count == 2
