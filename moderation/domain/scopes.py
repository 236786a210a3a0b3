"""Scopes: several websites on one service.

A key may carry a ``scope`` (a website's name). Comment, article and author ids are
then the website's own, unique within its scope. Stored, a scoped id is
``"<scope>/<id>"``; an id of the API never contains ``/`` (``http/schemas.ID_PATTERN``),
so the stored ids of different scopes, and of the default scope (no scope: ids are
stored as they are, exactly as before scopes existed), never collide.

This module is the one place that maps ids between the API and storage.
"""

from __future__ import annotations

import re

from moderation.domain.errors import ValidationFailed

SCOPE_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
MAX_SCOPE_CHARS = 64
SEPARATOR = "/"

_SCOPE = re.compile(SCOPE_PATTERN)


def valid_scope(scope: str | None) -> str | None:
    """``scope`` checked: None (the default scope) or 1-64 of ``a-z 0-9 . _ -``."""
    if scope is None:
        return None
    if not 1 <= len(scope) <= MAX_SCOPE_CHARS or not _SCOPE.fullmatch(scope):
        raise ValidationFailed(
            "a scope is 1 to 64 characters of a-z, 0-9, '.', '_' and '-', "
            "starting with a letter or digit",
            code="invalid_scope",
        )
    return scope


def to_stored(scope: str | None, api_id: str) -> str:
    """The stored id of ``api_id`` in ``scope`` (unchanged in the default scope)."""
    return api_id if not scope else f"{scope}{SEPARATOR}{api_id}"


def to_stored_optional(scope: str | None, api_id: str | None) -> str | None:
    return None if api_id is None else to_stored(scope, api_id)


def to_api(scope: str | None, stored_id: str) -> str:
    """The API id of ``stored_id``, a stored id of ``scope``."""
    if not scope:
        return stored_id
    prefix = f"{scope}{SEPARATOR}"
    return stored_id[len(prefix) :] if stored_id.startswith(prefix) else stored_id


def in_scope(scope: str | None, stored_id: str) -> bool:
    """Whether ``stored_id`` is an id stored in ``scope`` (the default scope's have no
    separator)."""
    if not scope:
        return SEPARATOR not in stored_id
    return stored_id.startswith(f"{scope}{SEPARATOR}")


def to_api_optional(scope: str | None, stored_id: str | None) -> str | None:
    return None if stored_id is None else to_api(scope, stored_id)


def column_value(scope: str | None) -> str:
    """The ``scope`` column's value: '' for the default scope."""
    return scope or ""


def from_column(value: str | None) -> str | None:
    return value or None
