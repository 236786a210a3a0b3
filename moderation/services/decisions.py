"""Recording a decision, and everything that follows from one, in the caller's transaction.

Whoever decides (the engine, a moderator, reader reports), the same things happen:
the decision is appended to the comment's history; the comment enters or leaves
the review queue with a priority; a status change writes one outbox event per
subscribed webhook (built by :func:`moderation.services.webhooks.emit`; the
transactional outbox: the event commits or rolls back with the decision); and a
rejection may put its author under premoderation.

Queue priority (0-150, higher first; ``docs/queue.md``): the most severe
triggered category, weighted (threats and severe abuse 1.0 … obscenity 0.5),
times its score; suspect terms, unavailable classifiers, links and
premoderation add their own floor; each distinct reader report adds 0.1 (up to
0.5). Equal priorities are served oldest first, and priorities are whole
numbers so that age decides among comparable cases and nothing starves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from moderation.domain.guidelines import Guidelines
from moderation.domain.models import (
    STATUS_OF,
    Action,
    AuthorStatus,
    Comment,
    DecisionDraft,
    Reason,
    Status,
    utcnow,
)
from moderation.domain.records import HELD_ELSEWHERE, QueueState
from moderation.services import webhooks
from moderation.storage.store import Store


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
    # A comment like the examples of a rule: about as urgent as a clear score on it.
    "example": 0.7,
    "suspect_term": 0.6,
    "classifier_unavailable": 0.5,
    "link": 0.3,
    "unsupported_language": 0.3,
    "author_premoderated": 0.2,
    "article_premoderated": 0.1,
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
    comment: Comment,
    draft: DecisionDraft,
    guidelines: Guidelines,
    *,
    new: bool = False,
    author_status: AuthorStatus | None = None,
    observers: Observers | None = None,
    review_here: bool = True,
) -> Comment:
    """Append ``draft`` to ``comment``'s history and apply its consequences.

    ``new``: the comment was stored in this transaction and had no status before.
    ``author_status``, when the caller has read it, saves reading it again.
    ``review_here``: False when a hold is reviewed elsewhere (Coral's own queue): the
    comment is pending (author counts, figures, backtests and webhooks see it) but stays
    out of this service's review queue (priority :data:`HELD_ELSEWHERE`). Returns the
    comment as decided, built in memory (its ``history`` grows by the decision when the
    caller loaded it with its history).
    """
    previous = None if new else comment.status
    status = STATUS_OF[draft.action]
    queue: QueueState | None = None
    if status is Status.pending:
        # A new comment has no reports yet: skip the count.
        reporters = 0 if new else await store.reporter_count(comment.id)
        queue = QueueState(
            priority=priority(draft.reasons, reporters) if review_here else HELD_ELSEWHERE,
            codes=tuple(sorted({r.code for r in draft.reasons})),
            categories=tuple(sorted({r.category for r in draft.reasons if r.category})),
        )
    decision = await store.record_decision(
        comment.id, draft, guidelines_version=guidelines.version, at=utcnow(), queue=queue
    )
    decided = replace(
        comment,
        revision=comment.revision + 1,
        status=status,
        updated_at=decision.at,
        decision=decision,
        history=(*comment.history, decision) if comment.history or new else (),
    )
    if status is not previous and await webhooks.emit(store, decided) and observers:
        store.after_commit(observers.events_written)
    if observers is not None:
        codes = tuple(sorted({r.code for r in draft.reasons}))
        store.after_commit(lambda: observers.decided(draft.action, draft.by, codes))
    if draft.action is Action.reject and guidelines.auto_premoderate is not None:
        await _maybe_premoderate(store, decided, guidelines, author_status)
    return decided


async def _maybe_premoderate(
    store: Store, comment: Comment, guidelines: Guidelines, status: AuthorStatus | None
) -> None:
    rule = guidelines.auto_premoderate
    assert rule is not None
    if status is None:
        status = await store.author_status(comment.author_id)
    if status is not AuthorStatus.active:
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
