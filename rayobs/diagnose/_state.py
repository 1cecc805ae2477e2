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
``.err`` log (crash traces), fetched through the same API. ``_records`` turns
the records into observations.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
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
from rayobs.diagnose._evidence import Finding, FindingKind
from rayobs.diagnose._nodedeaths import NodeDeath, state_node_deaths
from rayobs.diagnose._observation import Observation, merge
from rayobs.diagnose._raymsgs import crash_trace_finding
from rayobs.diagnose._records import (
    actor_observation,
    as_mapping,
    node_death_observations,
    node_unexplained,
    task_observation,
    worker_observation,
)

LIMIT = 10_000  # the state API's own ceiling (RAY_MAX_LIMIT_FROM_API_SERVER)
LOG_FETCHES = 20  # crash-trace lookups per run: bounded, each is a round trip
LIST_BUDGET_S = 30.0  # listing may legitimately take longer than connecting


@dataclass(frozen=True)
class ClusterState:
    """What the state API reported."""

    address: str  # the API server URL that answered
    session: str | None  # the session name, when the dashboard reports it
    observations: tuple[Observation, ...]
    node_deaths: tuple[NodeDeath, ...] = ()


def read_cluster(address: str | None, *, timeout: float = 8.0) -> ClusterState:
    """Query a running cluster; raise ``ClusterUnavailable`` if none answers within ``timeout``.

    ``address`` is a GCS address (``127.0.0.1:6379``), a dashboard URL
    (``http://127.0.0.1:8265``) or ``None`` for ``RAY_ADDRESS``, then the local
    cluster.
    """
    named = parse_address(address)
    check_token_settings()
    deadline = time.monotonic() + timeout
    if named.target:
        refuse_fast(named.target, min(2.0, timeout))  # before paying for `import ray`
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
        dead_nodes = _dead_nodes(ray_state, url, remaining)
        if any(node_unexplained(item) for item in observations):
            # How their node died, for the deaths whose own record only says that it did.
            observations.extend(node_death_observations(observations, dead_nodes))
        observations.extend(_crash_traces(ray_state, named, observations, remaining))
        dead = state_node_deaths(dead_nodes, "state-api")
        return ClusterState(url, session, tuple(observations), tuple(dead))

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
        yield worker_observation(as_mapping(item))
    for item in ray_state.list_actors(filters=[("state", "=", "DEAD")], **common):
        actor = actor_observation(as_mapping(item))
        if actor is not None:
            yield actor
    for error_type in ("WORKER_DIED", "OUT_OF_MEMORY", "NODE_DIED"):
        filters = [("state", "=", "FAILED"), ("error_type", "=", error_type)]
        for item in ray_state.list_tasks(filters=filters, **common):
            yield task_observation(as_mapping(item))


def _dead_nodes(ray_state: Any, url: str, timeout: int) -> list[Mapping[str, Any]]:
    """The state API's records of the dead nodes (asked once per diagnosis)."""
    nodes = ray_state.list_nodes(
        address=url,
        filters=[("state", "=", "DEAD")],
        detail=True,
        limit=LIMIT,
        timeout=timeout,
        raise_on_missing_output=False,
    )
    return [as_mapping(n) for n in nodes]


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
