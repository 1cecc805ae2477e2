"""The reference text verdicts are made of: every category means something."""

from __future__ import annotations

import pytest

from rayobs.diagnose._exitcodes import MAX_SIGNAL, SIGNAL_CATEGORIES, signal_name
from rayobs.diagnose._meanings import CATEGORY_MEANINGS, CODE_MEANINGS, SIGNAL_NOTES
from rayobs.diagnose._verdict import Category


@pytest.mark.parametrize("category", list(Category), ids=lambda c: c.value)
def test_every_category_has_a_meaning(category: Category) -> None:
    meaning = CATEGORY_MEANINGS[category]
    assert meaning.summary and meaning.causes and meaning.steps


def test_signal_notes_are_for_signals_without_a_category_of_their_own() -> None:
    assert not set(SIGNAL_NOTES) & set(SIGNAL_CATEGORIES)
    for number, note in SIGNAL_NOTES.items():
        assert 1 <= number <= MAX_SIGNAL
        assert note.startswith(f"{signal_name(number)}: ")


def test_codes_with_a_meaning_of_their_own_are_statuses() -> None:
    assert all(0 <= code <= 255 and meaning.summary for code, meaning in CODE_MEANINGS.items())
