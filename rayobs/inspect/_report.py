"""What the serializability inspector finds: frozen, printable-free result types."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Failure:
    """One object that cannot be pickled, at the innermost place the search reached.

    ``path`` is the access path from the inspected root, in Python notation
    (``task.__globals__['pool']``, ``obj.data['inner'][0]``); closure cells are
    named by their free variable: ``handler.__closure__[conn]``. ``type`` is the
    qualified type name, ``error`` the pickling error and ``hint`` a suggested fix.

    >>> Failure("task.__globals__['lock']", "_thread.lock", "TypeError: ...", "...").path
    "task.__globals__['lock']"
    """

    path: str
    type: str
    error: str
    hint: str


@dataclass(frozen=True)
class SerializabilityReport:
    """Whether an object pickles the way Ray ships it, and if not, every culprit.

    ``failures`` lists each failing leaf once, in the order the search met it.
    ``truncated`` says a depth or node budget cut the search short; then
    ``truncated_reason`` says which, and a listed failure may be a container
    whose culprit lies deeper.

    >>> report = SerializabilityReport(serializable=True, root="task")
    >>> report.serializable, report.failures
    (True, ())
    """

    serializable: bool
    root: str
    failures: tuple[Failure, ...] = ()
    truncated: bool = False
    truncated_reason: str = ""

    @property
    def paths(self) -> tuple[str, ...]:
        """The access path of every failure, in report order."""
        return tuple(failure.path for failure in self.failures)
