"""JSON representations of domain objects, shared by the HTTP API and webhook payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from moderation.domain import Article, Author, Comment, Decision


def timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def decision_json(decision: Decision) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": decision.id,
        "action": decision.action.value,
        "by": decision.by,
        "moderator": decision.moderator,
        "reasons": [reason.as_dict() for reason in decision.reasons],
        "message": decision.message,
        "scores": dict(decision.scores),
        "classifier": decision.classifier,
        "guidelines_version": decision.guidelines_version,
        "at": timestamp(decision.at),
    }
    if decision.note is not None:
        data["note"] = decision.note
    return data


def comment_json(comment: Comment, *, history: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": comment.id,
        "article_id": comment.article_id,
        "author_id": comment.author_id,
        "author_name": comment.author_name,
        "parent_id": comment.parent_id,
        "text": comment.text,
        "status": comment.status.value,
        "decision": None if comment.decision is None else decision_json(comment.decision),
        "article_tags": list(comment.article_tags),
        "metadata": dict(comment.metadata),
        "created_at": timestamp(comment.created_at),
        "updated_at": timestamp(comment.updated_at),
        "deleted_at": timestamp(comment.deleted_at),
    }
    if history:
        data["history"] = [decision_json(d) for d in comment.history]
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
