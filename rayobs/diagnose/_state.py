"""Live cluster: dead workers, actors and tasks from Ray's state API.

Ray is imported here and only here, inside ``read_cluster``: nothing else in
``rayobs.diagnose`` needs it. The cluster is contacted through
``rayobs._cluster`` (addresses, token settings, a fast refusal, one deadline:
Ray's address resolution retries for about 40 s when no cluster answers).

What is read: workers with ``is_alive=False`` (``exit_type``, ``exit_detail``),
actors in state ``DEAD`` (``death_cause``), tasks ``FAILED`` with
``error_type`` ``WORKER_DIED``, ``OUT_OF_MEMORY`` or ``NODE_DIED``; for tasks
whose node died, that node's ``state_message`` (preempted, SIGTERM, ...); and,
for workers that vanished without a trace in Ray's records, the tail of their
``.err`` log (crash traces), fetched through the same API.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from rayobs._cluster import (
    ClusterAddress,
    ClusterUnavailable,
    check_token_settings,
    gcs_address,
    parse_address,
    prepare_environment,
    refuse_fast,
    within,
)
from rayobs.diagnose._evidence import Finding, FindingKind, clip
from rayobs.diagnose._observation import Observation, merge
from rayobs.diagnose._raymsgs import (
    crash_trace_finding,
    exception_line,
    exit_detail_findings,
    is_routine_exit,
    node_death,
)
from rayobs.diagnose._verdict import Evidence

LIMIT = 10_000  # the state API's own ceiling (RAY_MAX_LIMIT_FROM_API_SERVER)
LOG_FETCHES = 20  # crash-trace lookups per run: bounded, each is a round trip
LIST_BUDGET_S = 30.0  # listing may legitimately take longer than connecting
# Actor deaths that are the normal end of an actor's life.
_ROUTINE_ACTOR_REASONS = frozenset({"OUT_OF_SCOPE", "REF_DELETED"})


@dataclass(frozen=True)
class ClusterState:
    """What the state API reported."""

    address: str  # the API server URL that answered
    session: str | None  # the session name, when the dashboard reports it
    observations: tuple[Observation, ...]


def read_cluster(address: str | None, *, timeout: float = 8.0) -> ClusterState:
    """Query a running cluster; raise ``ClusterUnavailable`` if none answers within ``timeout``.

    ``address`` is a GCS address (``127.0.0.1:6379``), a dashboard URL
    (``http://127.0.0.1:8265``) or ``None`` for ``RAY_ADDRESS``, then the local
    cluster.
    """
    named = parse_address(address)
    check_token_settings()
    deadline = time.monotonic() + timeout
    if named.gcs or named.dashboard:
        refuse_fast(named.gcs or named.dashboard or "", min(2.0, timeout))
    prepare_environment()
    try:
        from ray.util import state as ray_state
    except ImportError:
        raise ClusterUnavailable(
            "reading a live cluster needs Ray: pip install 'rayobs[ray]' "
            "(or pass --session-dir to read logs only)"
        ) from None
    url = within(
        deadline, f"no Ray cluster answered at {named.where}", lambda: _api_url(named), named.where
    )
    remaining = max(1, int(deadline - time.monotonic()) + 1)

    def query() -> ClusterState:
        session = _session_name(ray_state, url)
        observations = list(_observations(ray_state, url, remaining))
        observations.extend(_node_deaths(ray_state, url, observations, remaining))
        observations.extend(_crash_traces(ray_state, named, observations, remaining))
        return ClusterState(url, session, tuple(observations))

    return within(
        time.monotonic() + max(timeout, LIST_BUDGET_S),
        f"the Ray state API at {url} did not answer",
        query,
        url,
    )


def _api_url(named: ClusterAddress) -> str:
    """The dashboard's URL, where the state API answers; the GCS knows it for its address.

    With nothing given on the command line, Ray's own resolution decides
    (``RAY_API_SERVER_ADDRESS``, ``RAY_ADDRESS``, then the local cluster).
    """
    from ray.dashboard.utils import get_address_for_submission_client, ray_address_to_api_server_url

    if named.source != "--address":
        url: str = get_address_for_submission_client(None)
    elif named.dashboard is not None:
        url = named.dashboard
    elif named.gcs is not None:
        url = ray_address_to_api_server_url(named.gcs)  # an explicit address wins over the env
    else:
        url = get_address_for_submission_client(named.text)  # auto, local, ray://
    return url


def _record(item: Any) -> Mapping[str, Any]:
    if isinstance(item, Mapping):
        return item
    if is_dataclass(item) and not isinstance(item, type):
        return {f.name: getattr(item, f.name) for f in fields(item)}
    return dict(vars(item))


def _session_name(ray_state: Any, url: str) -> str | None:
    try:
        client = ray_state.StateApiClient(address=url)
        response = client._do_request("GET", "/api/version")  # carries session_name
        name = response.json().get("session_name")
        return str(name) if name else None
    except Exception:  # the session name is a nicety: never fail over it
        return None


def _observations(ray_state: Any, url: str, timeout: int) -> Iterator[Observation]:
    common = {"address": url, "detail": True, "limit": LIMIT, "timeout": timeout}
    common["raise_on_missing_output"] = False
    for item in ray_state.list_workers(filters=[("is_alive", "=", "False")], **common):
        yield _worker(_record(item))
    for item in ray_state.list_actors(filters=[("state", "=", "DEAD")], **common):
        actor = _actor(_record(item))
        if actor is not None:
            yield actor
    for error_type in ("WORKER_DIED", "OUT_OF_MEMORY", "NODE_DIED"):
        filters = [("state", "=", "FAILED"), ("error_type", "=", error_type)]
        for item in ray_state.list_tasks(filters=filters, **common):
            yield _task(_record(item))


def _ms(value: Any) -> float | None:
    return value / 1000 if isinstance(value, int | float) and value > 0 else None


def _worker(worker: Mapping[str, Any]) -> Observation:
    wid = str(worker.get("worker_id") or "") or None
    pid = worker.get("pid") or None
    exit_type = worker.get("exit_type")
    detail = worker.get("exit_detail") or ""
    source = f"state-api worker {wid}"
    return Observation(
        worker_id=wid,
        pid=pid,
        node=worker.get("node_id"),
        exit_type=exit_type,
        time=_ms(worker.get("end_time_ms")),
        findings=tuple(exit_detail_findings(exit_type, detail, source, pid=pid, worker_id=wid)),
        # A driver that exits is the end of a job, not a death, unless it crashed.
        routine=is_routine_exit(exit_type, detail)
        or (worker.get("worker_type") == "DRIVER" and exit_type != "SYSTEM_ERROR"),
    )


def _actor(actor: Mapping[str, Any]) -> Observation | None:
    cause = actor.get("death_cause") or {}
    name = str(actor.get("class_name") or "")
    if actor.get("name"):
        name = f"{name} ({actor['name']})"
    pid = actor.get("pid") or None
    source = f"state-api actor {actor.get('actor_id')}"
    findings: list[Finding] = []
    routine = False
    if "creation_task_failure_context" in cause:
        context = cause["creation_task_failure_context"] or {}
        text = str(context.get("formatted_exception_string") or "")
        line = exception_line(text) if text else "the actor's __init__ raised"
        findings.append(
            Finding(
                FindingKind.RAY_INIT_ERROR,
                Evidence(source, f"creation task failed: {line}"),
                pid=pid,
                value=line,
            )
        )
    elif "actor_died_error_context" in cause:
        context = cause["actor_died_error_context"] or {}
        reason = str(context.get("reason") or "")
        message = str(context.get("error_message") or reason)
        routine = reason in _ROUTINE_ACTOR_REASONS
        exit_type = "INTENDED_SYSTEM_EXIT" if reason == "RAY_KILL" else None
        findings.extend(exit_detail_findings(exit_type, message, source, pid=pid))
    if not findings and not routine:
        return None  # nothing to add beyond the worker's own record
    return Observation(
        pid=pid,
        node=actor.get("node_id"),
        name=name or None,
        time=_ms(actor.get("end_time")),
        findings=tuple(findings),
        routine=routine,
        # Joined with its worker's record; on its own (no worker seen) it is a death.
        ended=not routine,
    )


def _task(task: Mapping[str, Any]) -> Observation:
    wid = task.get("worker_id") or None
    pid = task.get("worker_pid") or None
    error_type = task.get("error_type")
    message = str(task.get("error_message") or "")
    source = f"state-api task {task.get('task_id')} ({task.get('name')})"
    described = f"error_type={error_type} {message}"
    findings = list(exit_detail_findings(None, described, source, pid=pid, worker_id=wid))
    if error_type == "OUT_OF_MEMORY":
        findings.insert(
            0,
            Finding(
                FindingKind.OOM_RAY,
                Evidence(source, clip(described.splitlines()[0])),
                pid=pid,
                worker_id=wid,
            ),
        )
    return Observation(
        worker_id=wid,
        pid=pid,
        node=task.get("node_id"),
        name=task.get("name"),
        time=_ms(task.get("end_time_ms")),
        findings=tuple(findings),
    )


def _node_deaths(
    ray_state: Any, url: str, observations: list[Observation], timeout: int
) -> Iterator[Observation]:
    """How their node died, for the deaths whose own record only says that it did."""
    if not any(_node_unexplained(item) for item in observations):
        return
    nodes = ray_state.list_nodes(
        address=url,
        filters=[("state", "=", "DEAD")],
        detail=True,
        limit=LIMIT,
        timeout=timeout,
        raise_on_missing_output=False,
    )
    yield from node_death_observations(observations, [_record(n) for n in nodes])


def _node_unexplained(item: Observation) -> bool:
    return bool(item.node) and any(
        f.kind is FindingKind.RAY_NODE_DIED and f.value == "unknown" for f in item.findings
    )


def node_death_observations(
    observations: list[Observation], nodes: list[Mapping[str, Any]]
) -> Iterator[Observation]:
    """Evidence from dead nodes' records for the deaths on them that Ray left unexplained.

    A task on a dead node is recorded as "the node it was running on is dead or
    unavailable"; the node's ``state_message`` says why ("Terminated due to
    preemption: ...", "Expected termination: received SIGTERM").
    """
    messages: dict[str, str] = {}
    for node in nodes:
        message = str(node.get("state_message") or "")
        if node_death(message) not in (None, "unknown"):
            messages[str(node.get("node_id"))] = message
    for item in observations:
        message = messages.get(str(item.node), "")
        if not message or not _node_unexplained(item):
            continue
        finding = Finding(
            FindingKind.RAY_NODE_DIED,
            Evidence(f"state-api node {item.node}", clip(f"state_message={message}")),
            pid=item.pid,
            worker_id=item.worker_id,
            value=node_death(message),
        )
        yield Observation(
            worker_id=item.worker_id,
            pid=item.pid,
            node=item.node,
            findings=(finding,),
            ended=False,
        )


_DECISIVE = frozenset(
    {
        FindingKind.SIGNAL,
        FindingKind.SIGNAL_HANDLED,
        FindingKind.EXIT_STATUS,
        FindingKind.OOM_RAY,
        FindingKind.RAY_KILLED,
        FindingKind.RAY_INIT_ERROR,
        FindingKind.RAY_NODE_DIED,  # its node is gone: there is no log to fetch
    }
)


def _crash_traces(
    ray_state: Any,
    named: ClusterAddress,
    observations: list[Observation],
    timeout: int,
) -> Iterator[Observation]:
    """Crash traces from the ``.err`` logs of workers that vanished without a word."""
    wanted = [
        item
        for item in merge(observations)
        if not (item.routine or {f.kind for f in item.findings} & _DECISIVE)
        and item.pid is not None
        and item.node
    ][:LOG_FETCHES]
    if not wanted or named.client:
        return
    bootstrap = named.gcs or named.text
    if named.dashboard:  # the log API wants the GCS address, which the dashboard shows
        try:
            bootstrap = gcs_address(named, time.monotonic() + min(timeout, 5))
        except Exception:  # evidence, not a need
            return
    for item in wanted:
        source = f"state-api log worker pid {item.pid} .err"
        traces: list[Finding] = []
        try:
            chunks = ray_state.get_log(
                address=bootstrap,
                node_id=item.node,
                pid=item.pid,
                suffix="err",
                tail=300,
                timeout=timeout,
            )
            for number, line in enumerate("".join(chunks).splitlines(), 1):
                trace = crash_trace_finding(line, f"{source}:{number}", pid=item.pid)
                if trace is not None:
                    traces.append(
                        Finding(
                            trace.kind, trace.evidence, item.pid, item.worker_id, trace.value, True
                        )
                    )
        except Exception:  # the log may be rotated away or the node gone: evidence, not a need
            continue
        if traces:
            yield Observation(
                worker_id=item.worker_id, pid=item.pid, node=item.node, findings=tuple(traces)
            )
