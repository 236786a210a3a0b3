"""What text the service can take from a caller and store: the one rule for bodies, URLs,
keys and cursors alike."""

from __future__ import annotations

from typing import Literal

Problem = Literal["surrogate", "nul"]


def text_problem(value: str) -> Problem | None:
    """Why ``value`` cannot be stored as text, or None when it can: ``"surrogate"`` for a
    lone surrogate (a JSON ``\\ud800`` escape, a header byte that is not UTF-8: not
    Unicode, and it would not encode), ``"nul"`` for a NUL character (PostgreSQL's text
    refuses it)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "surrogate"
    return "nul" if "\x00" in value else None
