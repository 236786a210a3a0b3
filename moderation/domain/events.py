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

NOTICE_DECIDED = "notice.decided"
"""Sent when a moderator's decision on a comment decides the notices on it (DSA Art. 16)."""

APPEAL_DECIDED = "appeal.decided"
"""Sent when a moderator decides an appeal against a restricting decision (DSA Art. 20)."""

EVENTS: tuple[str, ...] = (*COMMENT_EVENT.values(), NOTICE_DECIDED, APPEAL_DECIDED)
"""Every event name a webhook may subscribe to."""
