"""The classifier: an exit status plus findings in, one ``Verdict`` out. Pure.

The most specific cause wins. The rules, in order:

1. Ray said why (an actor's ``__init__`` raised, ``ray.kill``, the worker's
   node was preempted or died): that is the verdict.
2. Memory evidence turns a kill into ``oom_killed``, *certain* when it names
   this process, *likely* when it cannot be tied to it (``_oom_rule``).
3. Ray ended the worker as part of its lifecycle (idle, owner died, job ended).
4. A crash trace names the signal (Ray's native handler, faulthandler, the
   kernel), or Ray records the signal its handler exited on ("exit code 1. The
   process receives a SIGTERM." is a SIGTERM, code 1 kept).
5. Otherwise the status itself decides; SIGKILL alone stays ``killed`` and
   ``ambiguous``, with the ways to tell the causes apart.

>>> classify(137).category.value, classify(137).confidence.value
('killed', 'ambiguous')
>>> from rayobs.diagnose._evidence import kernel_findings
>>> log = "Out of memory: Killed process 4242 (python) total-vm:9000kB"
>>> verdict = classify(-9, kernel_findings(log, "dmesg"), pid=4242)
>>> verdict.category.value, verdict.confidence.value, verdict.evidence[0].source
('oom_killed', 'certain', 'dmesg:1')
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from rayobs.diagnose._draft import Draft, Tie, Tier, headline, relevant
from rayobs.diagnose._evidence import OOM_KINDS, Finding, FindingKind
from rayobs.diagnose._exitcodes import (
    SIGNAL_CATEGORIES,
    ExitStatus,
    InvalidExitCode,
    code_category,
    decode,
    signal_name,
)
from rayobs.diagnose._meanings import (
    CATEGORY_MEANINGS,
    CODE_MEANINGS,
    SIGKILL_CAUSES,
    SIGKILL_STEPS,
    SIGNAL_NOTES,
    Meaning,
)
from rayobs.diagnose._oom_rule import memory_findings, oom_rule
from rayobs.diagnose._raycauses import NODE_DEATHS, RAY_LIFECYCLE
from rayobs.diagnose._verdict import Category, Confidence, Evidence, Verdict


def classify(
    code: int | None = None,
    findings: Iterable[Finding] = (),
    *,
    pid: int | None = None,
    worker_id: str | None = None,
) -> Verdict:
    """Explain one exit from its status (``None`` if unknown) and the findings about it.

    ``pid``/``worker_id`` identify the process, so findings naming another
    process are set aside rather than taken as evidence.
    """
    facts = tuple(findings)
    tie = Tier(pid, worker_id)
    status = decode(code) if code is not None else None
    reported = None
    if status is None:
        reported = _reported_status(facts, tie)
        status = reported[0] if reported else None
    status = _handled(status, facts, tie)

    draft = (
        _ray_cause(status, facts, tie)
        or oom_rule(status, facts, tie)
        or _ray_exit(status, facts, tie)
        or _crash_trace(status, facts, tie)
        or (_from_status(status, facts, tie) if status is not None else None)
        or _unknown_status(facts, tie)
    )
    if reported and reported[1] not in draft.evidence:
        draft.evidence.insert(0, reported[1])
    _add_context(draft, status, facts, tie)
    return Verdict(
        code=status.code if status is not None else None,
        signal=draft.signal or (status.signal if status is not None else None),
        category=draft.category,
        summary=draft.summary,
        likely_causes=tuple(dict.fromkeys(draft.causes)),
        next_steps=tuple(dict.fromkeys(draft.steps)),
        evidence=tuple(dict.fromkeys(draft.evidence)),
        confidence=draft.confidence,
    )


def _reported_status(facts: tuple[Finding, ...], tie: Tier) -> tuple[ExitStatus, Evidence] | None:
    for finding in facts:
        if finding.kind is FindingKind.EXIT_STATUS and tie(finding) is not Tie.OTHER:
            try:
                return decode(int(finding.value or 0)), finding.evidence
            except InvalidExitCode:
                continue
    return None


def _handled(status: ExitStatus | None, facts: tuple[Finding, ...], tie: Tier) -> ExitStatus | None:
    """A failure status that a signal handler chose is that signal's (the code is kept)."""
    if status is None or status.signum is not None or status.code == 0:
        return status
    for finding in relevant(facts, tie, FindingKind.SIGNAL_HANDLED):
        if isinstance(finding.value, int):
            return replace(status, signum=finding.value, handled=True)
    return status


# --- rule 1: Ray said why ----------------------------------------------------------------


def _ray_cause(status: ExitStatus | None, facts: tuple[Finding, ...], tie: Tier) -> Draft | None:
    init_errors = relevant(facts, tie, FindingKind.RAY_INIT_ERROR)
    if init_errors:
        error = init_errors[0]
        return Draft(
            Category.ERROR,
            Confidence.CERTAIN,
            f"the actor's __init__ raised {error.value}; Ray stopped its worker",
            Meaning(
                "",
                ("an exception in the actor's constructor",),
                (
                    "read the full traceback: the ActorDiedError the caller got, or the "
                    "actor's worker-*.err",
                    "fix the constructor; calls to a dead actor raise ActorDiedError",
                ),
            ),
            [error.evidence],
        )
    kills = relevant(facts, tie, FindingKind.RAY_KILLED)
    if kills:
        cancelled = "ray.cancel" in kills[0].evidence.line
        how = "ray.cancel(force=True)" if cancelled else "ray.kill()"
        return Draft(
            Category.KILLED,
            Confidence.CERTAIN,
            f"killed on request by {how}",
            Meaning(
                "",
                (f"{how} was called on it by the driver or another task or actor",),
                (f"search the application for {how.split('(')[0]}",),
            ),
            [kills[0].evidence],
        )
    nodes = relevant(facts, tie, FindingKind.RAY_NODE_DIED)
    if nodes:
        # A record that says how the node died beats one that only says it died.
        node = min(nodes, key=lambda f: str(f.value).startswith("unknown"))
        how, _, message = str(node.value).partition(": ")
        category, confidence, what, meaning = NODE_DEATHS.get(how, NODE_DEATHS["unknown"])
        summary = f"{what} ({message})" if message else what
        return Draft(
            category,
            confidence,
            headline(status, summary),
            meaning,
            [f.evidence for f in sorted(nodes, key=lambda f: f is not node)],
            signal=status.signal if status is not None else None,
        )
    return None


# --- rule 2: memory: see _oom_rule ------------------------------------------------------

# --- rule 3: Ray's lifecycle -------------------------------------------------------------


def _ray_exit(status: ExitStatus | None, facts: tuple[Finding, ...], tie: Tier) -> Draft | None:
    exits = relevant(facts, tie, FindingKind.RAY_EXIT)
    if not exits:
        return None
    summary = f"stopped by Ray on purpose: {exits[0].value}"
    return Draft(
        Category.TERMINATED,
        Confidence.CERTAIN,
        headline(status, summary) if status is not None else summary,
        RAY_LIFECYCLE,
        [exits[0].evidence],
        signal=status.signal if status is not None else None,
    )


# --- rule 4: crash traces and handled signals ---------------------------------------------

_SIGNAL_KINDS = (FindingKind.SIGNAL, FindingKind.SIGNAL_HANDLED)


def _crash_trace(status: ExitStatus | None, facts: tuple[Finding, ...], tie: Tier) -> Draft | None:
    traces = [
        f
        for f in facts
        if f.kind in _SIGNAL_KINDS and isinstance(f.value, int) and tie(f) is not Tie.OTHER
    ]
    if not traces:
        return None
    trace = next((f for f in traces if tie(f) is Tie.THIS), traces[0])
    number = int(trace.value or 0)
    if status is not None and status.signum is not None and status.signum != number:
        return None  # the status wins; the trace stays as context
    if status is not None and status.signum is None and status.code != 0:
        return None  # a plain exit status is not a signal death
    category = SIGNAL_CATEGORIES.get(number, Category.SIGNAL)
    confidence = Confidence.CERTAIN if tie(trace) is Tie.THIS else Confidence.LIKELY
    if category is Category.KILLED:
        confidence = Confidence.AMBIGUOUS
    meaning = CATEGORY_MEANINGS[category]
    summary = _signal_summary(number, meaning)
    evidence = [f.evidence for f in traces if int(f.value or 0) == number]
    return Draft(
        category,
        confidence,
        headline(status, summary),
        meaning,
        evidence,
        signal=signal_name(number),
    )


def _signal_summary(number: int, meaning: Meaning) -> str:
    if number in SIGNAL_NOTES:
        return f"killed by {SIGNAL_NOTES[number]}"
    if SIGNAL_CATEGORIES.get(number) is None:
        return f"killed by {signal_name(number)}, which it did not handle"
    return meaning.summary


# --- rule 5: the status alone ------------------------------------------------------------


def _from_status(status: ExitStatus, facts: tuple[Finding, ...], tie: Tier) -> Draft:
    category, confidence = code_category(status)
    meaning = CODE_MEANINGS.get(status.code) or CATEGORY_MEANINGS[category]
    summary = meaning.summary
    if status.signum is not None:
        summary = _signal_summary(status.signum, meaning)
    elif category is Category.ERROR and status.code not in CODE_MEANINGS and status.code > 192:
        summary = "a program-chosen status above the signal range"
    draft = Draft(category, confidence, headline(status, summary), meaning)
    if category is Category.KILLED:
        _sigkill_context(draft, facts, tie)
    if status.shell_convention and category is not Category.KILLED:
        draft.causes.append(
            f"less often: the program itself called exit({status.code}) without any signal"
        )
    return draft


def _sigkill_context(draft: Draft, facts: tuple[Finding, ...], tie: Tier) -> None:
    """What narrows down a bare SIGKILL without deciding it."""
    evicted = relevant(facts, tie, FindingKind.K8S_EVICTED)
    if evicted:
        draft.confidence = Confidence.LIKELY
        draft.summary += "; the kubelet evicted the pod, and SIGKILL follows SIGTERM after the "
        draft.summary += "grace period"
        draft.evidence.extend(f.evidence for f in evicted)
        draft.causes.insert(0, "a kubelet eviction (node pressure) whose grace period ran out")
    clean = relevant(facts, tie, FindingKind.NO_OOM_CGROUP)
    if clean:
        draft.summary += "; the cgroup counted no OOM kill"
        draft.evidence.extend(f.evidence for f in clean)
        draft.causes.append(
            "the cgroup's oom_kill counter is 0: not its OOM killer (unless the cgroup was "
            "recreated after the kill, as when a container restarts)"
        )


def _unknown_status(facts: tuple[Finding, ...], tie: Tier) -> Draft:
    lost = relevant(facts, tie, FindingKind.RAY_LOST)
    if lost:
        draft = Draft(
            Category.KILLED,
            Confidence.AMBIGUOUS,
            "the worker vanished without reporting an exit and left no crash trace "
            "(no exit status recorded)",
            Meaning(
                "",
                (
                    *SIGKILL_CAUSES,
                    "os._exit() or a native exit that skipped Ray's shutdown",
                    "a native crash whose trace was not captured",
                ),
                (
                    *SIGKILL_STEPS[1:4],
                    "read the end of the worker's worker-*.err and python-core-worker-*.log",
                ),
            ),
            [f.evidence for f in lost],
        )
        _sigkill_context(draft, facts, tie)
        return draft
    return Draft(
        Category.ERROR,
        Confidence.AMBIGUOUS,
        "the process died and nothing recorded why (no exit status recorded)",
        Meaning(
            "",
            ("any of the causes of a crash or a kill: the logs hold no trace of it",),
            ("read the end of the process's stderr and the node's kernel log",),
        ),
    )


# --- context that never changes the category ---------------------------------------------


def _add_context(
    draft: Draft, status: ExitStatus | None, facts: tuple[Finding, ...], tie: Tier
) -> None:
    if status is not None and status.handled:
        draft.causes.insert(
            0,
            f"status {status.code} is what its {status.signal} handler exited with (Ray's "
            f"workers call sys.exit(1) on SIGTERM): the signal is the cause, not an error",
        )
    elif status is not None and status.signum is None and status.code != 0:
        unnamed = [f for f in relevant(facts, tie, FindingKind.SIGNAL_HANDLED) if f.value is None]
        if unnamed:
            draft.evidence.extend(f.evidence for f in unnamed)
            draft.causes.insert(
                0,
                "Ray says a signal ended it: a signal handler of its own called "
                f"sys.exit({status.code}); Ray does not name the signal",
            )
    for finding in relevant(facts, tie, FindingKind.K8S_REASON):
        draft.evidence.append(finding.evidence)
        reason = str(finding.value)
        if reason in ("ContainerCannotRun", "StartError"):
            draft.causes.insert(0, "the container runtime could not start the command")
        elif reason == "DeadlineExceeded":
            draft.causes.insert(0, "the Job's activeDeadlineSeconds ran out")
    if draft.category is not Category.OOM_KILLED:
        tied, untied = memory_findings(facts, tie)
        memory = tied + untied
        if memory:
            draft.evidence.extend(f.evidence for f in memory)
            draft.causes.append(
                "memory pressure was recorded nearby, but this exit is not an OOM kill: a child "
                "process may have been the one killed"
            )
    others = sorted({f.pid for f in facts if f.kind in OOM_KINDS and tie(f) is Tie.OTHER if f.pid})
    if others:
        pids = ", ".join(str(p) for p in others[:10])
        draft.steps.append(
            f"the logs show OOM kills of other processes (pid {pids}), not of this one"
        )
