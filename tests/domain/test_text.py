"""domain/text.py: the one rule for text from callers (bodies, URLs, keys, cursors)."""

from __future__ import annotations

import pytest

from moderation.domain.text import text_problem


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("a plain comment, ünïcödé and emoji 🙂", None),
        ("", None),
        ("bad \ud800 half", "surrogate"),
        ("bytes \udcff escaped", "surrogate"),  # a header byte that is not UTF-8
        ("nul \x00 here", "nul"),
        ("\ud800\x00", "surrogate"),  # not text at all comes first
    ],
)
def test_text_problem_names_what_cannot_be_stored(value: str, problem: str | None) -> None:
    assert text_problem(value) == problem
