"""The webhook events: one name per kind of change a website hears about."""

from __future__ import annotations

from collections.abc import Mapping

from moderation.domain.models import Status

COMMENT_EVENT: Mapping[Status, str] = {
    Status.approved: "comment.approved",
    Status.pending: "comment.held",
    Status.rejected: "comment.rejected",
}
"""The event sent when a comment enters each status."""

EVENTS: tuple[str, ...] = tuple(COMMENT_EVENT.values())
"""Every event name a webhook may subscribe to."""
