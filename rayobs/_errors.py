"""Exceptions rayobs raises at definition time (misuse), and in strict mode."""

from __future__ import annotations


class RayobsError(Exception):
    """Base class of every exception rayobs raises."""


class MetricDefinitionError(RayobsError, ValueError):
    """A metric was declared with an invalid name, tag key, default tag or bucket layout."""


class MetricConflictError(RayobsError, ValueError):
    """A metric name was declared again with a different specification.

    ``differences`` maps each differing field to ``(existing, new)``.
    """

    def __init__(self, name: str, differences: dict[str, tuple[object, object]]) -> None:
        self.name = name
        self.differences = differences
        details = "; ".join(
            f"{field}: {old!r} was declared, now {new!r}"
            for field, (old, new) in differences.items()
        )
        super().__init__(
            f"metric {name!r} is already declared with a different specification ({details}). "
            "Declare each metric once, at module level, and import it where it is used."
        )


class RecordingError(RayobsError, RuntimeError):
    """A run-time recording failure, raised only in strict mode (``RAYOBS_STRICT=1``)."""


class SerializationError(RayobsError, TypeError):
    """An object Ray would have to pickle cannot be pickled.

    ``report`` is the :class:`rayobs.SerializabilityReport` naming every culprit.
    """

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report

    def __reduce__(self) -> tuple[type[SerializationError], tuple[str, object]]:
        return type(self), (str(self), self.report)
