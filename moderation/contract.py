"""JSON representations of domain objects, shared by the HTTP API and webhook payloads."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from moderation.domain.appeals import Appeal
from moderation.domain.destinations import mask_credentials
from moderation.domain.models import (
    Action,
    ApiKey,
    Article,
    Author,
    Comment,
    Decision,
    Reason,
)
from moderation.domain.notices import Notice
from moderation.domain.records import AuditEntry, Delivery, QueueEntry, Webhook
from moderation.domain.review import BulkOutcome, Context, QueueItem
from moderation.domain.scopes import to_api, to_api_optional


def timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def reasons_json(reasons: Iterable[Reason], *, notes: bool) -> list[dict[str, Any]]:
    """A decision's reasons; the nearest example of an ``example`` reason, which quotes
    another reader's comment, only for moderators (``notes``)."""
    found = [reason.as_dict() for reason in reasons]
    if not notes:
        for reason in found:
            reason.pop("example", None)
    return found


def decision_json(
    decision: Decision, *, notes: bool = False, current: bool = True
) -> dict[str, Any]:
    """A decision; what only moderators see (their private ``note``, the nearest example of
    an ``example`` reason, which quotes another reader) only when ``notes``.

    ``statement``: the statement of reasons (EU DSA Art. 17) of a rejection, and of a hold
    while it lasts (``current``: the hold is the comment's decision now); else null."""
    data: dict[str, Any] = {
        "id": decision.id,
        "action": decision.action.value,
        "by": decision.by,
        "moderator": decision.moderator,
        "reasons": reasons_json(decision.reasons, notes=notes),
        "message": decision.message,
        "scores": dict(decision.scores),
        "classifier": decision.classifier,
        "guidelines_version": decision.guidelines_version,
        "at": timestamp(decision.at),
        "ground": decision.ground.value,
        "legal_ground": decision.legal_ground,
        "statement": None
        if decision.statement is None or (decision.action is Action.hold and not current)
        else decision.statement.as_dict(),
    }
    if notes:
        data["note"] = decision.note
    return data


def comment_json(comment: Comment, *, history: bool = False, notes: bool = False) -> dict[str, Any]:
    """A comment as its website knows it: the ids of its scope, and the scope's name (null
    in the default scope)."""
    scope = comment.scope
    data: dict[str, Any] = {
        "id": to_api(scope, comment.id),
        "scope": scope,
        "article_id": to_api(scope, comment.article_id),
        "author_id": to_api(scope, comment.author_id),
        "author_name": comment.author_name,
        "parent_id": to_api_optional(scope, comment.parent_id),
        "text": comment.text,
        "status": comment.status.value,
        "decision": None
        if comment.decision is None
        else decision_json(comment.decision, notes=notes),
        "article_tags": list(comment.article_tags),
        "metadata": dict(comment.metadata),
        "created_at": timestamp(comment.created_at),
        "updated_at": timestamp(comment.updated_at),
        "deleted_at": timestamp(comment.deleted_at),
        "revision": comment.revision,
    }
    if history:
        now = comment.decision.id if comment.decision is not None else None
        data["history"] = [
            decision_json(d, notes=notes, current=d.id == now) for d in comment.history
        ]
    return data


def article_json(article: Article) -> dict[str, Any]:
    return {
        "id": article.id,
        "title": article.title,
        "url": article.url,
        "tags": list(article.tags),
        "mode": article.mode.value,
        "created_at": timestamp(article.created_at),
        "updated_at": timestamp(article.updated_at),
    }


def author_json(author: Author) -> dict[str, Any]:
    return {
        "author_id": author.id,
        "status": author.status.value,
        "reason": author.reason,
        "counts": dict(author.counts),
        "updated_at": timestamp(author.updated_at),
    }


def queue_item_json(entry: QueueEntry, item: QueueItem | None = None) -> dict[str, Any]:
    """A queue entry; with ``item`` also its ``lines`` (per category, the guidelines' hold
    and reject lines in force for it) and ``duplicate_keys`` (shared by near-identical
    comments: ``domain/grouping.py``)."""
    claim = None
    if entry.claimed_by is not None:
        claim = {
            "by": entry.claimed_by_name,
            "key_id": entry.claimed_by,
            "expires_at": timestamp(entry.claim_expires_at),
        }
    # Only moderators read the queue: they see the nearest example of an ``example`` reason.
    data = comment_json(entry.comment, notes=True) | {
        "priority": entry.priority,
        "claim": claim,
        "queue_reasons": list(entry.codes),
    }
    if item is not None:
        data["lines"] = {
            category: {"hold": line.hold, "reject": line.reject}
            for category, line in item.lines.items()
        }
        data["duplicate_keys"] = list(item.duplicate_keys)
    return data


def thread_comment_json(comment: Comment) -> dict[str, Any]:
    """A comment near the one being judged, in brief: a deleted one's text stays erased."""
    scope = comment.scope
    return {
        "id": to_api(scope, comment.id),
        "author_id": to_api(scope, comment.author_id),
        "author_name": comment.author_name,
        "parent_id": to_api_optional(scope, comment.parent_id),
        "text": None if comment.deleted_at is not None else comment.text,
        "status": comment.status.value,
        "deleted": comment.deleted_at is not None,
        "created_at": timestamp(comment.created_at),
    }


def context_json(context: Context) -> dict[str, Any]:
    """``GET /v1/comments/{id}/context``: the article (null when the website never
    described it), the parent comment, and the nearby thread."""
    article = context.article
    return {
        "id": to_api(context.comment.scope, context.comment.id),
        "article": None
        if article is None
        else {
            "id": article.id,
            "title": article.title,
            "url": article.url,
            "tags": list(article.tags),
        },
        "parent": None if context.parent is None else thread_comment_json(context.parent),
        "thread": [thread_comment_json(c) | {"relation": "sibling"} for c in context.siblings]
        + [thread_comment_json(c) | {"relation": "reply"} for c in context.replies],
    }


def bulk_outcome_json(outcome: BulkOutcome) -> dict[str, Any]:
    """One comment of a bulk decision: its resource, or the error it alone would get."""
    if outcome.comment is not None:
        return {
            "id": outcome.comment_id,
            "status": outcome.status,
            "comment": comment_json(outcome.comment, notes=True),
        }
    return {
        "id": outcome.comment_id,
        "status": outcome.status,
        "error": {"code": outcome.code, "message": outcome.message},
    }


def author_with_history_json(author: Author, recent: list[Comment]) -> dict[str, Any]:
    return author_json(author) | {
        "recent": [
            {
                "id": to_api(c.scope, c.id),
                "article_id": to_api(c.scope, c.article_id),
                "status": c.status.value,
                "action": c.decision.action.value if c.decision else None,
                "by": c.decision.by if c.decision else None,
                "created_at": timestamp(c.created_at),
            }
            for c in recent
        ]
    }


def webhook_json(webhook: Webhook) -> dict[str, Any]:
    return {
        "id": webhook.id,
        "url": mask_credentials(webhook.url),  # the real one is only for delivery
        "events": list(webhook.events),
        "created_by": webhook.created_by,
        "created_at": timestamp(webhook.created_at),
        "scope": webhook.scope,
    }


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "event_id": delivery.event_id,
        "type": delivery.type,
        "comment_id": delivery.comment_id,
        "created_at": timestamp(delivery.created_at),
        "attempts": delivery.attempts,
        "delivered": delivery.delivered_at is not None,
        "delivered_at": timestamp(delivery.delivered_at),
        "next_attempt_at": timestamp(delivery.next_attempt_at),
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
    }


def key_json(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "role": key.role.name,
        "created_at": timestamp(key.created_at),
        "last_used_at": timestamp(key.last_used_at),
        "revoked_at": timestamp(key.revoked_at),
        "rate_limit": key.rate_limit,
        "scope": key.scope,
    }


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "actor": entry.actor,
        "actor_key_id": entry.actor_key_id,
        "action": entry.action,
        "target": entry.target,
        "details": dict(entry.details),
        "at": timestamp(entry.at),
    }


def notice_json(notice: Notice) -> dict[str, Any]:
    """A notice (EU DSA Art. 16) as ``GET /v1/notices/{id}`` and ``notice.decided`` show it:
    its comment's id in that comment's scope, and never the reporter or the explanation."""
    data: dict[str, Any] = {
        "id": notice.id,
        "comment_id": to_api(notice.scope, notice.comment_id),
        "status": notice.status.value,
        "category": notice.category,
        "received_at": timestamp(notice.received_at),
    }
    if notice.outcome is not None:
        data["outcome"] = notice.outcome.value
        data["decided_at"] = timestamp(notice.decided_at)
    return data


def appeal_json(appeal: Appeal) -> dict[str, Any]:
    """An appeal (EU DSA Art. 20) as ``GET /v1/appeals/{id}`` and ``appeal.decided`` show
    it: never the author's explanation, nor the moderator's reason."""
    data: dict[str, Any] = {
        "id": appeal.id,
        "comment_id": to_api(appeal.scope, appeal.comment_id),
        "status": appeal.status.value,
        "received_at": timestamp(appeal.received_at),
    }
    if appeal.outcome is not None:
        data["outcome"] = appeal.outcome.value
        data["decided_at"] = timestamp(appeal.decided_at)
    return data


def notice_for_moderators_json(
    notice: Notice, explanation: str | None, legal_ground: str | None
) -> dict[str, Any]:
    """A notice as moderators read it: what the reporter wrote (null once the comment was
    deleted), never who they are."""
    return notice_json(notice) | {"explanation": explanation, "legal_ground": legal_ground}


def appeal_for_moderators_json(appeal: Appeal, explanation: str | None) -> dict[str, Any]:
    """An appeal as moderators read it: the author's explanation (null once the comment
    was deleted), the appealed decision's id, and whether its moderator was a person."""
    return appeal_json(appeal) | {
        "explanation": explanation,
        "decision_id": appeal.decision_id,
        "appealed_by": appeal.appealed_by,
    }
