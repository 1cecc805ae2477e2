"""Findings: what one line of a log, a cgroup file or a pod status says about an exit.

Everything here is pure: functions take text (or parsed JSON) and return
``Finding`` objects; reading files is ``_collect``'s job and deciding what the
findings add up to is ``_classify``'s.

>>> [f.pid for f in kernel_findings("Out of memory: Killed process 4242 (python)", "dmesg")]
[4242]
>>> cgroup_findings("memory.events", "oom 1\\noom_kill 1\\n", "cg")[0].kind.value
'oom_cgroup'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from rayobs.diagnose._verdict import Evidence

MAX_LINE = 400  # evidence lines are for people: keep them readable


class FindingKind(str, Enum):
    """What a piece of evidence says."""

    EXIT_STATUS = "exit_status"  # an exit status someone recorded (value: the code)
    SIGNAL = "signal"  # a crash trace or report naming a signal (value: its number)
    # The process caught a signal and exited on it with a status of its own: Ray's workers
    # exit with 1 on SIGTERM (value: the signal's number, None when Ray does not name it).
    SIGNAL_HANDLED = "signal_handled"
    OOM_KUBERNETES = "oom_kubernetes"  # a container's terminated reason is OOMKilled
    OOM_KERNEL = "oom_kernel"  # the kernel OOM killer named a victim
    OOM_CGROUP = "oom_cgroup"  # the cgroup's oom_kill counter is above zero
    NO_OOM_CGROUP = "no_oom_cgroup"  # the cgroup's oom_kill counter is zero
    OOM_RAY = "oom_ray"  # Ray's memory monitor killed workers
    K8S_REASON = "k8s_reason"  # another Kubernetes termination reason (value: the reason)
    K8S_EVICTED = "k8s_evicted"  # the kubelet evicted the pod
    RAY_KILLED = "ray_killed"  # ray.kill() or ray.cancel(force=True)
    RAY_INIT_ERROR = "ray_init_error"  # an actor's __init__ raised (value: the exception line)
    RAY_EXIT = "ray_exit"  # Ray stopped the worker on purpose (value: why)
    RAY_LOST = "ray_lost"  # the worker vanished without reporting an exit
    RAY_NODE_DIED = "ray_node_died"  # its node died (value: "HOW: Ray's message", see _raymsgs)


OOM_KINDS = frozenset(
    {
        FindingKind.OOM_KUBERNETES,
        FindingKind.OOM_KERNEL,
        FindingKind.OOM_CGROUP,
        FindingKind.OOM_RAY,
    }
)


@dataclass(frozen=True)
class Finding:
    """One fact with the line it came from.

    ``pid``/``worker_id`` tie it to one process when the line names one, so
    that a kernel line about another process is not taken as evidence.
    ``own`` marks a report about the very exit being explained (a container's
    own status, the worker's own log), whatever pid it names.
    """

    kind: FindingKind
    evidence: Evidence
    pid: int | None = None
    worker_id: str | None = None
    value: int | str | None = None
    own: bool = False


def clip(line: str) -> str:
    """One readable line: ANSI colours removed, whitespace folded, length capped."""
    text = " ".join(_ANSI.sub("", line).split())
    return text if len(text) <= MAX_LINE else text[: MAX_LINE - 3] + "..."


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# --- kernel log (dmesg, journalctl -k, /var/log/kern.log) --------------------------------

_KERNEL_OOM = (
    # "Out of memory: Killed process 4242 (python)" (older: "Kill process 4242 ... or sacrifice
    # child"), "Memory cgroup out of memory: Killed process 4242", plain "Killed process 4242".
    re.compile(r"\bKill(?:ed)? process (\d+)"),
    # "oom-kill:constraint=CONSTRAINT_MEMCG,...,task=python,pid=4242,uid=1000"
    re.compile(r"\boom-kill:.*?\bpid=(\d+)"),
    re.compile(r"\boom_reaper: reaped process (\d+)"),
)
_KERNEL_TRAPS = (
    # "python[4242]: segfault at 0 ip ... error 4 in libc.so.6"
    (re.compile(r"(?:^|\s)\S+\[(\d+)\]: segfault at"), 11),
    # "traps: python[4242] general protection fault ip:..." is delivered as SIGSEGV
    (re.compile(r"traps: \S+\[(\d+)\] general protection"), 11),
    (re.compile(r"traps: \S+\[(\d+)\] trap invalid opcode"), 4),
    (re.compile(r"traps: \S+\[(\d+)\] trap divide error"), 8),
)


def kernel_findings(text: str | Iterable[str], source: str) -> list[Finding]:
    """OOM kills and native crashes the kernel logged, each with its pid.

    ``source`` names the log; findings cite ``source:LINE``.
    """
    lines = text.splitlines() if isinstance(text, str) else text
    found: list[Finding] = []
    for number, line in enumerate(lines, 1):
        if "ill" in line or "oom" in line:  # cheap filter before the regexes
            for pattern in _KERNEL_OOM:
                match = pattern.search(line)
                if match:
                    found.append(
                        Finding(
                            FindingKind.OOM_KERNEL,
                            Evidence(f"{source}:{number}", clip(line)),
                            pid=int(match.group(1)),
                        )
                    )
                    break
        if "segfault" in line or "traps:" in line:
            for pattern, signum in _KERNEL_TRAPS:
                match = pattern.search(line)
                if match:
                    found.append(
                        Finding(
                            FindingKind.SIGNAL,
                            Evidence(f"{source}:{number}", clip(line)),
                            pid=int(match.group(1)),
                            value=signum,
                        )
                    )
                    break
    return found


# --- cgroup memory controller ------------------------------------------------------------

CGROUP_FILES = ("memory.events", "memory.events.local", "memory.oom_control")


def cgroup_findings(name: str, text: str, source: str) -> list[Finding]:
    """The ``oom_kill`` counter of a cgroup memory file, as a finding either way.

    ``name`` is the file name: ``memory.events`` (v2) or ``memory.oom_control``
    (v1, kernels from 4.13 carry ``oom_kill``). A zero counter is evidence too:
    this cgroup's OOM killer did not fire (since the cgroup was created).
    """
    found: list[Finding] = []
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if len(parts) == 2 and parts[0] == "oom_kill" and parts[1].isdigit():
            count = int(parts[1])
            kind = FindingKind.OOM_CGROUP if count > 0 else FindingKind.NO_OOM_CGROUP
            found.append(
                Finding(kind, Evidence(f"{source}/{name}:{number}", line.strip()), value=count)
            )
    return found


# --- Kubernetes pod status ---------------------------------------------------------------


class PodFormatError(ValueError):
    """The JSON is not a Pod or a List of Pods as ``kubectl get pod -o json`` prints."""


@dataclass(frozen=True)
class Termination:
    """One container's terminated state from a pod's status."""

    pod: str
    container: str
    state: str  # "state" (current) or "lastState" (the previous run)
    exit_code: int
    reason: str | None = None
    signal: int | None = None
    message: str | None = None
    finished_at: str | None = None
    pod_reason: str | None = None
    pod_message: str | None = None

    @property
    def source(self) -> str:
        return f"pod {self.pod} container {self.container} {self.state}.terminated"

    def line(self) -> str:
        parts = [f"exitCode={self.exit_code}"]
        for key, value in (
            ("reason", self.reason),
            ("signal", self.signal),
            ("finishedAt", self.finished_at),
            ("message", self.message),
        ):
            if value is not None and value != "":
                parts.append(f"{key}={value}")
        return clip(" ".join(parts))


def pod_terminations(document: object) -> list[Termination]:
    """Every terminated container state (current and last) in a Pod or a List of Pods.

    Raises ``PodFormatError`` for anything else.
    """
    if not isinstance(document, Mapping):
        raise PodFormatError("pod JSON must be an object (kubectl get pod NAME -o json)")
    kind = document.get("kind")
    if kind in ("List", "PodList"):
        items = document.get("items")
        if not isinstance(items, list):
            raise PodFormatError(f"pod JSON of kind {kind} has no 'items' list")
        pods = items
    elif kind == "Pod":
        pods = [document]
    else:
        raise PodFormatError(f"expected a Pod or a List of Pods, got kind={kind!r}")
    result: list[Termination] = []
    for pod in pods:
        if not isinstance(pod, Mapping) or pod.get("kind", "Pod") != "Pod":
            raise PodFormatError("every item of the list must be a Pod")
        result.extend(_pod_terminations(pod))
    return result


def _pod_terminations(pod: Mapping[str, object]) -> list[Termination]:
    metadata = _mapping(pod.get("metadata"), "metadata")
    status = _mapping(pod.get("status"), "status")
    name = str(metadata.get("name", "?"))
    namespace = metadata.get("namespace")
    label = f"{namespace}/{name}" if namespace else name
    result: list[Termination] = []
    for key in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
        statuses = status.get(key)
        if statuses is None:
            continue
        if not isinstance(statuses, list):
            raise PodFormatError(f"status.{key} must be a list")
        for container in statuses:
            container = _mapping(container, f"status.{key}[]")
            for state in ("state", "lastState"):
                terminated = _mapping(container.get(state), f"{state}").get("terminated")
                if terminated is None:
                    continue
                terminated = _mapping(terminated, f"{state}.terminated")
                code = terminated.get("exitCode")
                if not isinstance(code, int) or isinstance(code, bool):
                    raise PodFormatError(f"{state}.terminated.exitCode must be an integer")
                signal = terminated.get("signal")
                result.append(
                    Termination(
                        pod=label,
                        container=str(container.get("name", "?")),
                        state=state,
                        exit_code=code,
                        reason=_text(terminated.get("reason")),
                        signal=signal if isinstance(signal, int) and signal > 0 else None,
                        message=_text(terminated.get("message")),
                        finished_at=_text(terminated.get("finishedAt")),
                        pod_reason=_text(status.get("reason")),
                        pod_message=_text(status.get("message")),
                    )
                )
    return result


def _mapping(value: object, where: str) -> Mapping[str, object]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PodFormatError(f"{where} must be an object")
    return value


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def termination_findings(termination: Termination) -> list[Finding]:
    """What one terminated container state says: its reason, its signal, an eviction."""
    evidence = Evidence(termination.source, termination.line())
    found = [reason_finding(termination.reason, evidence)] if termination.reason else []
    if termination.signal is not None:
        found.append(Finding(FindingKind.SIGNAL, evidence, value=termination.signal, own=True))
    if termination.pod_reason == "Evicted":
        line = clip(f"reason=Evicted message={termination.pod_message or ''}")
        source = f"pod {termination.pod} status"
        found.append(Finding(FindingKind.K8S_EVICTED, Evidence(source, line), own=True))
    return found


def reason_finding(reason: str, evidence: Evidence) -> Finding:
    """A Kubernetes termination reason: ``OOMKilled`` is OOM evidence, others are context."""
    if reason.strip().lower() == "oomkilled":
        return Finding(FindingKind.OOM_KUBERNETES, evidence, value="OOMKilled", own=True)
    return Finding(FindingKind.K8S_REASON, evidence, value=reason.strip(), own=True)
