"""Lists: one envelope, ``{"items": [...], "next_cursor": "…" | null}``, and its cursors.

A cursor is the last item's sort key (``domain.records.Page.next_after``), encoded so
clients treat it as opaque: pass it back as ``?cursor=`` for the next page. A cursor
that does not decode is a 422 (``invalid_cursor``), never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from moderation.domain.errors import ValidationFailed
from moderation.domain.records import Page

T = TypeVar("T")


def encode_cursor(key: Iterable[str]) -> str:
    raw = json.dumps(list(key), separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[str, ...] | None:
    """The sort key a client's cursor stands for; None for the first page."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError):
        raise ValidationFailed(
            "the cursor is not one this service gave", code="invalid_cursor"
        ) from None
    if not isinstance(key, list) or not key or not all(isinstance(v, str) for v in key):
        raise ValidationFailed("the cursor is not one this service gave", code="invalid_cursor")
    return tuple(key)


def page_json(page: Page[T], item_json: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    """The list envelope every list endpoint answers with."""
    return {
        "items": [item_json(item) for item in page.items],
        "next_cursor": None if page.next_after is None else encode_cursor(page.next_after),
    }
