"""Recording a decision, and everything that follows from one, in the caller's transaction.

Whoever decides (the engine, a moderator, reader reports), the same things happen:
the decision is appended to the comment's history; the comment enters or leaves
the review queue with a priority; a status change writes one outbox event per
subscribed webhook (the transactional outbox: the event commits or rolls back
with the decision); and a rejection may put its author under premoderation.

Queue priority (0-150, higher first; ``docs/queue.md``): the most severe
triggered category, weighted (threats and severe abuse 1.0 … obscenity 0.5),
times its score; suspect terms, unavailable classifiers, links and
premoderation add their own floor; each distinct reader report adds 0.1 (up to
0.5). Equal priorities are served oldest first, and priorities are whole
numbers so that age decides among comparable cases and nothing starves.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from moderation.contract import comment_json
from moderation.domain.guidelines import Guidelines
from moderation.domain.models import (
    STATUS_OF,
    Action,
    AuthorStatus,
    Decision,
    Reason,
    Status,
    utcnow,
)
from moderation.storage.store import QueueState, Store


def _ignore(*_: object) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Observers:
    """Who hears about recorded decisions, once their transaction has committed."""

    events_written: Callable[[], None] = _ignore
    decided: Callable[[Action, str, tuple[str, ...]], None] = _ignore


CATEGORY_WEIGHT: Mapping[str, float] = {
    "severe_toxicity": 1.0,
    "threat": 1.0,
    "identity_attack": 0.9,
    "sexual_explicit": 0.8,
    "insult": 0.7,
    "toxicity": 0.6,
    "obscene": 0.5,
}

CODE_FLOOR: Mapping[str, float] = {
    "banned_term": 1.0,
    "suspect_term": 0.6,
    "classifier_unavailable": 0.5,
    "link": 0.3,
    "author_premoderated": 0.2,
    "article_premoderated": 0.1,
}

EVENT_OF: Mapping[Status, str] = {
    Status.approved: "comment.approved",
    Status.pending: "comment.held",
    Status.rejected: "comment.rejected",
}


def priority(reasons: Sequence[Reason], reporters: int = 0) -> int:
    """How urgently a held comment needs a human; see the module docstring."""
    base = 0.0
    for reason in reasons:
        if reason.code == "threshold" and reason.category and reason.score is not None:
            base = max(base, CATEGORY_WEIGHT.get(reason.category, 0.5) * reason.score)
        base = max(base, CODE_FLOOR.get(reason.code, 0.0))
    return round(100 * (base + min(0.5, 0.1 * reporters)))


async def record(
    store: Store,
    comment_id: str,
    previous: Status | None,
    guidelines: Guidelines,
    *,
    action: Action,
    by: str,
    moderator: str | None,
    reasons: Sequence[Reason],
    message: str,
    scores: Mapping[str, float] | None,
    classifier: str | None,
    note: str | None = None,
    store_scores: bool = True,
    observers: Observers | None = None,
) -> Decision:
    """Append a decision and apply its consequences; ``previous`` is the status before it."""
    status = STATUS_OF[action]
    queue: QueueState | None = None
    if status is Status.pending:
        # A new comment has no reports yet: skip the count.
        reporters = await store.reporter_count(comment_id) if previous is not None else 0
        queue = QueueState(
            priority=priority(reasons, reporters),
            codes=tuple(sorted({r.code for r in reasons})),
            categories=tuple(sorted({r.category for r in reasons if r.category})),
        )
    decision = await store.record_decision(
        comment_id,
        action=action,
        by=by,
        moderator=moderator,
        reasons=reasons,
        message=message,
        scores=scores,
        classifier=classifier,
        guidelines_version=guidelines.version,
        at=utcnow(),
        note=note,
        store_scores=store_scores,
        queue=queue,
    )
    if status is not previous and await _emit(store, comment_id, status) and observers:
        store.after_commit(observers.events_written)
    if observers is not None:
        codes = tuple(sorted({r.code for r in reasons}))
        store.after_commit(lambda: observers.decided(action, by, codes))
    if action is Action.reject and guidelines.auto_premoderate is not None:
        await _maybe_premoderate(store, comment_id, guidelines)
    return decision


async def _emit(store: Store, comment_id: str, status: Status) -> bool:
    event_type = EVENT_OF[status]
    webhooks = [w for w in await store.webhooks() if event_type in w.events]
    if not webhooks:
        return False
    comment = await store.comment(comment_id)
    assert comment is not None
    resource = comment_json(comment)
    now = utcnow()
    for webhook in webhooks:
        event_id = "evt_" + secrets.token_hex(12)
        body = json.dumps(
            {"id": event_id, "type": event_type, "comment": resource},
            separators=(",", ":"),
            ensure_ascii=False,
        )
        await store.add_event(event_id, webhook.id, event_type, comment_id, body, now)
    return True


async def _maybe_premoderate(store: Store, comment_id: str, guidelines: Guidelines) -> None:
    rule = guidelines.auto_premoderate
    assert rule is not None
    comment = await store.comment(comment_id)
    if comment is None or await store.author_status(comment.author_id) is not AuthorStatus.active:
        return
    since = utcnow() - timedelta(days=rule.days)
    rejected = await store.rejections_since(comment.author_id, since)
    if rejected < rule.rejections:
        return
    reason = f"automatic: {rejected} rejected comments in {rule.days} days"
    await store.set_author(comment.author_id, AuthorStatus.premoderated, reason, utcnow())
    await store.audit(
        "system",
        "author.premoderated",
        comment.author_id,
        {"status": AuthorStatus.premoderated.value, "reason": reason},
        utcnow(),
    )
