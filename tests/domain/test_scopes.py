"""Scopes: the one mapping between a website's ids and stored ids."""

from __future__ import annotations

import re

import pytest

from moderation.domain.errors import ValidationFailed
from moderation.domain.scopes import (
    column_value,
    from_column,
    to_api,
    to_api_optional,
    to_stored,
    to_stored_optional,
    valid_scope,
)
from moderation.http.schemas import ID_PATTERN


def test_the_default_scope_stores_ids_as_they_are() -> None:
    assert to_stored(None, "c-1") == "c-1"
    assert to_api(None, "c-1") == "c-1"
    assert to_stored_optional(None, None) is None
    assert column_value(None) == "" and from_column("") is None


def test_scoped_ids_round_trip_and_never_collide() -> None:
    stored = {to_stored(scope, "c-1") for scope in (None, "a", "b", "a.b", "a-b")}
    assert len(stored) == 5
    assert to_stored("a", "c-1") == "a/c-1"
    assert to_api("a", "a/c-1") == "c-1"
    assert to_api_optional("a", None) is None
    assert to_stored_optional("b", "p-1") == "b/p-1"
    # No API id contains the separator, so no API id names a scoped comment.
    assert not re.fullmatch(ID_PATTERN, "a/c-1")


@pytest.mark.parametrize("scope", ["a", "site-1", "news.example", "a_b", "9" * 64])
def test_valid_scopes(scope: str) -> None:
    assert valid_scope(scope) == scope


@pytest.mark.parametrize("scope", ["", "A", "-a", ".a", "a/b", "a b", "é", "x" * 65])
def test_invalid_scopes(scope: str) -> None:
    with pytest.raises(ValidationFailed):
        valid_scope(scope)
