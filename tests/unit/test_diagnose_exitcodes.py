"""Exit statuses without evidence: every category, the book's table, signals, bad input."""

from __future__ import annotations

import doctest
import importlib

import pytest

from rayobs.diagnose import Category, Confidence, InvalidExitCode, explain_exit_code, parse_code
from rayobs.diagnose._exitcodes import decode, same_status, signal_name, signal_number

# One status per category that needs no evidence (oom_killed needs some).
BY_CATEGORY = {
    Category.SUCCESS: 0,
    Category.ERROR: 1,
    Category.USAGE: 2,
    Category.NOT_EXECUTABLE: 126,
    Category.NOT_FOUND: 127,
    Category.INTERRUPTED: 130,
    Category.TERMINATED: 143,
    Category.KILLED: 137,
    Category.SEGFAULT: 139,
    Category.ABORT: 134,
    Category.BUS_ERROR: 135,
    Category.FPE: 136,
    Category.ILLEGAL_INSTRUCTION: 132,
    Category.BROKEN_PIPE: 141,
    Category.SIGNAL: 129,
}


@pytest.mark.parametrize("category", list(Category), ids=lambda c: c.value)
def test_every_category_is_reachable(category: Category) -> None:
    if category is Category.OOM_KILLED:
        verdict = explain_exit_code(137, reason="OOMKilled")
    else:
        verdict = explain_exit_code(BY_CATEGORY[category])
    assert verdict.category is category
    assert verdict.summary and verdict.likely_causes and verdict.next_steps


@pytest.mark.parametrize(
    ("code", "category", "signal", "confidence"),
    [
        # The book's table (Scaling Python with Ray, appendix C).
        (0, Category.SUCCESS, None, Confidence.CERTAIN),
        (1, Category.ERROR, None, Confidence.CERTAIN),
        (127, Category.NOT_FOUND, None, Confidence.LIKELY),
        (130, Category.INTERRUPTED, "SIGINT", Confidence.LIKELY),
        (137, Category.KILLED, "SIGKILL", Confidence.AMBIGUOUS),
        (139, Category.SEGFAULT, "SIGSEGV", Confidence.LIKELY),
        # Python's negative codes come from waitpid: the signal is certain.
        (-11, Category.SEGFAULT, "SIGSEGV", Confidence.CERTAIN),
        (-6, Category.ABORT, "SIGABRT", Confidence.CERTAIN),
        (-15, Category.TERMINATED, "SIGTERM", Confidence.CERTAIN),
        (-2, Category.INTERRUPTED, "SIGINT", Confidence.CERTAIN),
        (-13, Category.BROKEN_PIPE, "SIGPIPE", Confidence.CERTAIN),
        # SIGKILL alone never says who sent it, whatever the notation.
        (-9, Category.KILLED, "SIGKILL", Confidence.AMBIGUOUS),
        # Other signals and the rest of the range.
        (152, Category.SIGNAL, "SIGXCPU", Confidence.LIKELY),
        (-31, Category.SIGNAL, "SIGSYS", Confidence.CERTAIN),
        (128 + 40, Category.SIGNAL, "SIGRTMIN+6", Confidence.LIKELY),
        (192, Category.SIGNAL, "SIGRTMAX", Confidence.LIKELY),
        (3, Category.ERROR, None, Confidence.CERTAIN),
        (128, Category.ERROR, None, Confidence.CERTAIN),
        (193, Category.ERROR, None, Confidence.CERTAIN),
        (255, Category.ERROR, None, Confidence.CERTAIN),
    ],
)
def test_status_alone(
    code: int, category: Category, signal: str | None, confidence: Confidence
) -> None:
    verdict = explain_exit_code(code)
    assert (verdict.code, verdict.category, verdict.signal, verdict.confidence) == (
        code,
        category,
        signal,
        confidence,
    )
    assert verdict.evidence == ()
    assert str(code) in verdict.summary


@pytest.mark.parametrize("code", range(-64, 256))
def test_every_valid_status_has_an_explanation(code: int) -> None:
    verdict = explain_exit_code(code)
    assert verdict.summary.startswith(f"exit status {code}")
    assert verdict.category is not Category.OOM_KILLED  # never without evidence


def test_sigkill_lists_the_ways_to_tell_causes_apart() -> None:
    verdict = explain_exit_code(137)
    causes = " ".join(verdict.likely_causes)
    assert "OOM killer" in causes and "kill -9" in causes and "grace-period" in causes
    steps = " ".join(verdict.next_steps)
    for clue in ("OOMKilled", "Killed process", "memory.events", "running low on memory"):
        assert clue in steps


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "not an exit status"),
        ("", "not an exit status"),
        ("1.5", "not an exit status"),
        ("0x89", "not an exit status"),
        ("99999", "out of range"),
        ("256", "out of range"),
        ("-65", "out of range"),
    ],
)
def test_bad_codes_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidExitCode, match=message):
        parse_code(text)


def test_codes_parse_with_sign_and_spaces() -> None:
    assert parse_code(" -9 ") == -9
    assert parse_code("+137") == 137


def test_signal_names_round_trip() -> None:
    for number in range(1, 65):
        assert signal_number(signal_name(number)) == number
    assert signal_number("kill") == 9
    assert signal_number("11") == 11
    assert signal_number("SIGNOPE") is None
    assert signal_number("99") is None


def test_128_plus_n_and_minus_n_are_the_same_exit() -> None:
    assert same_status(137, -9)
    assert same_status(-11, 139)
    assert not same_status(137, 143)
    assert not same_status(1, -1)
    assert decode(137).shell_convention and not decode(-9).shell_convention


@pytest.mark.parametrize(
    "module",
    [
        "rayobs.diagnose",
        "rayobs.diagnose._verdict",
        "rayobs.diagnose._exitcodes",
        "rayobs.diagnose._evidence",
        "rayobs.diagnose._raymsgs",
        "rayobs.diagnose._classify",
        "rayobs.diagnose._explain",
        "rayobs.diagnose._diagnose",
    ],
)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0
    assert result.failed == 0
