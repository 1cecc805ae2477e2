"""Hamilton dataflows: per-node calls, errors and duration, with no change to the dataflow.

A lifecycle adapter (Hamilton's public ``NodeExecutionHook`` and
``GraphExecutionHook``) passed to the driver beside any other::

    dr = (
        driver.Builder()
        .with_modules(features)
        .with_adapters(h_ray.RayGraphAdapter(base.DictResult()), NodeMetrics(trace=True))
        .build()
    )

Hamilton runs node hooks where the node runs: in process for the local
executor, inside the Ray task for ``h_ray.RayGraphAdapter`` and for the
task-based ``h_ray.RayTaskExecutor`` (it ships the adapters with every node or
task). So each node is counted in the process that ran it, exactly like an
instrumented Ray task: ``rayobs_calls{kind="node", name=<node>,
component=<dataflow>}`` and the other call metrics.

With tracing on, ``execute`` gets a span in the driver and every node a span
under it, wherever the node runs: the execute span's W3C context travels with
the adapter, which Hamilton pickles into every Ray task.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from hamilton.lifecycle import GraphExecutionHook, NodeExecutionHook

from rayobs._errors import MetricDefinitionError
from rayobs.calls import _decorator
from rayobs.calls._options import Options, packed, unpacked
from rayobs.calls._stats import SiteSpec, site_for
from rayobs.metrics import _failures

KIND = "node"
_EXECUTE = "execute"

# Per process, never pickled with the adapter: the hooks of each node's records,
# the open execute spans by run id, and each thread's nodes in progress.
_hooks: dict[tuple[Any, ...], tuple[Any, Any]] = {}
_executions: dict[str, tuple[Any, Any]] = {}
_running = threading.local()


class NodeMetrics(NodeExecutionHook, GraphExecutionHook):  # type: ignore[misc]
    """Count every node of a Hamilton dataflow where it runs; a span per node with ``trace``.

    - ``dataflow``: the ``component`` tag (default: the module that defines the
      node, ``features`` for ``features.py``).
    - ``tags``: ``app`` and ``team`` for every node.
    - ``metrics``, ``duration_histogram``, ``trace``: as for ``rayobs.instrument``.

    >>> from rayobs.hamilton import NodeMetrics
    >>> NodeMetrics("features", tags={"app": "pricing"})
    NodeMetrics(dataflow='features', tags={'app': 'pricing'}, trace=False)
    """

    def __init__(
        self,
        dataflow: str | None = None,
        *,
        tags: Mapping[str, str] | None = None,
        metrics: Iterable[str] | None = None,
        duration_histogram: Any = None,
        trace: bool | None = None,
    ) -> None:
        if dataflow is not None and (not isinstance(dataflow, str) or not dataflow):
            raise MetricDefinitionError(f"NodeMetrics(dataflow=...) must be a name: {dataflow!r}")
        if tags and "component" in tags:
            raise MetricDefinitionError(
                "NodeMetrics: the component tag is the dataflow; pass dataflow=... instead"
            )
        options = Options.build(None, tags, metrics, duration_histogram, None, None, False, trace)
        self.dataflow = dataflow
        self.tags = options.tags
        self.metrics = options.metrics
        self.duration = options.duration
        self.trace = options.trace
        # run id -> the execute span's W3C context; pickled into Ray tasks with the adapter
        self.carriers: dict[str, dict[str, str]] = {}

    def __repr__(self) -> str:
        return (
            f"NodeMetrics(dataflow={self.dataflow!r}, tags={dict(self.tags)!r}, trace={self.trace})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Hamilton's Ray integrations pickle the adapters into every node's task, and
        # each task is a new remote function: the default state (the duration
        # histogram's whole spec) costs tens of microseconds a node to pickle and
        # load again. The defaults travel as None (``packed``), and a worker reuses
        # one adapter per configuration.
        if type(self) is not NodeMetrics:  # a subclass may hold more state
            inherited: tuple[Any, ...] = super().__reduce__()
            return inherited
        state = (self.dataflow, self.tags, *packed(self.metrics, self.duration), self.trace)
        return (_restored, (state, self.carriers or None))

    # ---- the whole execution, in the driver ----

    def run_before_graph_execution(self, *, run_id: str, **future_kwargs: Any) -> None:
        if not self.trace:
            return
        try:
            from rayobs.tracing import _context

            attributes = {"rayobs.kind": "dataflow", "hamilton.run_id": run_id}
            if self.dataflow:
                attributes["hamilton.dataflow"] = self.dataflow
            handle = _context.start(_EXECUTE, attributes, None)
            _executions[run_id] = handle
            carrier = _context.current_carrier()
            if carrier:
                self.carriers[run_id] = carrier
        except Exception as exc:
            _failures.report(_EXECUTE, "trace", exc)

    def run_after_graph_execution(
        self, *, run_id: str, error: Exception | None = None, **future_kwargs: Any
    ) -> None:
        handle = _executions.pop(run_id, None)
        self.carriers.pop(run_id, None)
        if handle is None:
            return
        try:
            from rayobs.tracing import _context

            _context.finish(handle[0], handle[1], error)
        except Exception as exc:
            _failures.report(_EXECUTE, "trace", exc)

    # ---- each node, where it runs ----

    def run_before_node_execution(
        self,
        *,
        node_name: str,
        node_tags: Mapping[str, Any],
        run_id: str,
        **future_kwargs: Any,
    ) -> None:
        stack = _stack()
        try:
            component = self.dataflow or str(node_tags.get("module", ""))
            start, finish = _node_hooks(node_name, component, self)
            span = self._start_span(node_name, component, run_id) if self.trace else None
            stack.append((finish, start({}), span))
        except Exception as exc:
            stack.append(None)  # the matching after-hook pops it and records nothing
            _failures.report(node_name, "node start", exc)

    def run_after_node_execution(
        self,
        *,
        node_name: str,
        error: Exception | None = None,
        **future_kwargs: Any,
    ) -> None:
        stack = _stack()
        entry = stack.pop() if stack else None
        if entry is None:
            return
        finish, token, span = entry
        try:
            if span is not None:
                from rayobs.tracing import _context

                _context.finish(span[0], span[1], error)
            finish(token, error)
        except Exception as exc:
            _failures.report(node_name, "node finish", exc)

    def _start_span(self, node_name: str, component: str, run_id: str) -> tuple[Any, Any]:
        from rayobs.tracing import _context

        attributes = {
            "rayobs.kind": KIND,
            "hamilton.node": node_name,
            "hamilton.dataflow": component,
            "hamilton.run_id": run_id,
        }
        return _context.start(node_name, attributes, self.carriers.get(run_id))


_restored_adapters: dict[tuple[Any, ...], NodeMetrics] = {}


def _restored(state: tuple[Any, ...], carriers: dict[str, dict[str, str]] | None) -> NodeMetrics:
    """A pickled ``NodeMetrics`` in the process that loads it (see ``__reduce__``)."""
    if carriers:  # a traced run's context: this copy is the run's own
        return _rebuilt(state, carriers)
    adapter = _restored_adapters.get(state)
    if adapter is None:
        adapter = _restored_adapters[state] = _rebuilt(state, {})
    return adapter


def _rebuilt(state: tuple[Any, ...], carriers: dict[str, dict[str, str]]) -> NodeMetrics:
    dataflow, tags, metrics, duration, trace = state
    adapter: NodeMetrics = NodeMetrics.__new__(NodeMetrics)
    adapter.dataflow = dataflow
    adapter.tags = tags
    adapter.metrics, adapter.duration = unpacked(metrics, duration)
    adapter.trace = trace
    adapter.carriers = dict(carriers)
    return adapter


def _stack() -> list[Any]:
    try:
        stack: list[Any] = _running.stack
    except AttributeError:
        stack = _running.stack = []
    return stack


def _node_hooks(node_name: str, component: str, adapter: NodeMetrics) -> tuple[Any, Any]:
    """The start/finish hooks that count ``node_name``'s calls in this process."""
    key = (node_name, component, adapter.tags, adapter.metrics, adapter.duration)
    found = _hooks.get(key)
    if found is None:
        tags = tuple(sorted((*adapter.tags, ("component", component)))) if component else ()
        spec = SiteSpec(
            kind=KIND,
            name=node_name,
            tags=tags or adapter.tags,
            metrics=adapter.metrics,
            duration=adapter.duration,
        )
        found = _hooks[key] = _decorator._hooks(site_for(spec))
    return found
