"""Span exporters rayobs ships: one JSON-lines file per process, and reading them back."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger("rayobs")


class JsonLinesSpanExporter:
    """Writes each span as one JSON object per line to ``DIR/spans-<pid>.jsonl``.

    Every process writes its own file, so spans from all workers on a node can be
    collected (``read_spans(DIR)``) without running a collector.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()

    def _path(self) -> Path:
        return self.directory / f"spans-{os.getpid()}.jsonl"

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            lines = "".join(json.dumps(span_to_dict(s), default=str) + "\n" for s in spans)
            with self._lock, self._path().open("a", encoding="utf-8") as out:
                out.write(lines)
        except OSError as exc:
            logger.warning("rayobs: cannot write spans to %s: %s", self.directory, exc)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def span_to_dict(span: Any) -> dict[str, Any]:
    """A finished SDK span as plain data (ids in hex, times in unix nanoseconds)."""
    ctx = span.get_span_context()
    parent = span.parent
    return {
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent_span_id": f"{parent.span_id:016x}" if parent is not None else None,
        "name": span.name,
        "kind": span.kind.name,
        "start_time_unix_nano": span.start_time,
        "end_time_unix_nano": span.end_time,
        "status": {"code": span.status.status_code.name, "description": span.status.description},
        "attributes": dict(span.attributes or {}),
        "events": [{"name": e.name, "attributes": dict(e.attributes or {})} for e in span.events],
        "resource": dict(span.resource.attributes),
    }


def read_spans(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every span written by :class:`JsonLinesSpanExporter` under ``directory``."""
    spans: list[dict[str, Any]] = []
    for path in sorted(Path(directory).glob("spans-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                spans.append(json.loads(line))
    return spans
