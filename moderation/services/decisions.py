"""Recording a decision, and everything that follows from one, in the caller's transaction.

Whoever decides (the engine, a moderator, reader reports), the same things happen:
the decision is appended to the comment's history; the comment enters or leaves
the review queue with a priority; a status change writes one outbox event per
subscribed webhook (built by :func:`moderation.services.webhooks.emit`; the
transactional outbox: the event commits or rolls back with the decision); and a
rejection may put its author under premoderation.

Queue priority (0-210, higher first; ``docs/review-queue.md``): the most severe
triggered category, weighted (threats and severe abuse 1.0 … obscenity 0.5),
times its score; suspect terms, unavailable classifiers, links and
premoderation add their own floor; each distinct reader report adds 0.1 (up to
0.5); and a notice under the EU DSA (Art. 16) or an appeal (Art. 20) has a floor above
every ordinary hold with its reports (1.6 against at most 1.5). Equal priorities are
served oldest first, and priorities are whole numbers so that age decides among
comparable cases and nothing starves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from moderation.domain.appeals import APPEAL_CODE, Appeal
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
from moderation.domain.notices import NOTICE_CODE
from moderation.domain.records import HELD_ELSEWHERE, QueueState
from moderation.domain.statements import restricts, statement_for
from moderation.domain.transparency import agreed
from moderation.services import live, webhooks
from moderation.storage.store import Store


def _ignore(*_: object) -> None:
    return None


@dataclass(frozen=True, slots=True)
class ModeratorDecided:
    """A moderator's decision (on a comment, or an appeal), for the EU DSA metrics.

    ``queue_reason`` and ``waited_seconds``: when it took the comment out of the review
    queue, the queue's main reason (:func:`main_reason`) and how long the comment had
    waited since it entered the queue; else None. ``agreed``: when the comment's decision
    before it was automatic, whether the moderator agreed with it
    (``domain/transparency.agreed``); else None."""

    moderator: str
    queue_reason: str | None = None
    waited_seconds: float | None = None
    agreed: bool | None = None


@dataclass(frozen=True, slots=True)
class Observers:
    """Who hears about recorded decisions, once their transaction has committed."""

    events_written: Callable[[], None] = _ignore
    decided: Callable[[Action, str, tuple[str, ...]], None] = _ignore
    moderated: Callable[[ModeratorDecided], None] = _ignore
    #: A change of the review queue was written (``services/live.py``): the feed reads it.
    queue_changed: Callable[[], None] = _ignore


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
    # A notice under the EU DSA (Art. 16): ahead of every ordinary hold, whose weighted
    # scores and floors reach at most 1.0 and reader reports add at most 0.5 to.
    "notice": 1.6,
    # An appeal under the EU DSA (Art. 20), likewise ahead of every ordinary hold.
    APPEAL_CODE: 1.6,
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


APPEAL_PRIORITY = round(100 * CODE_FLOOR[APPEAL_CODE])
"""The queue priority of an appealed comment, at least (``services/appeals.py``)."""


def priority(reasons: Sequence[Reason], reporters: int = 0) -> int:
    """How urgently a held comment needs a human; see the module docstring."""
    base = 0.0
    for reason in reasons:
        if reason.code == "threshold" and reason.category and reason.score is not None:
            base = max(base, CATEGORY_WEIGHT.get(reason.category, 0.5) * reason.score)
        base = max(base, CODE_FLOOR.get(reason.code, 0.0))
    return round(100 * (base + min(0.5, 0.1 * reporters)))


def main_reason(reasons: Sequence[Reason], appealed: bool = False) -> str:
    """The reason code that sets a queued comment's priority (:func:`priority`): the one
    weighing most, an open appeal first among equals, else the first reason's code."""
    weighed: list[tuple[float, str]] = [(CODE_FLOOR[APPEAL_CODE], APPEAL_CODE)] if appealed else []
    for reason in reasons:
        weight = CODE_FLOOR.get(reason.code, 0.0)
        if reason.code == "threshold" and reason.category and reason.score is not None:
            weight = max(weight, CATEGORY_WEIGHT.get(reason.category, 0.5) * reason.score)
        weighed.append((weight, reason.code))
    if not weighed:
        return "none"
    return max(weighed, key=lambda pair: pair[0])[1]  # the first of equals


def queued_since(comment: Comment) -> datetime | None:
    """When a pending comment entered the review queue: the first of the holds its history
    ends with (an edit or a notice re-holds it without taking it out). Its current
    decision's time when its history was not loaded; None when it is not pending."""
    if comment.status is not Status.pending or comment.decision is None:
        return None
    since = comment.decision.at
    for decision in reversed(comment.history):
        if decision.action is not Action.hold:
            break
        since = decision.at
    return since


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
    at = utcnow()
    statement = None
    if restricts(draft.action):
        # The statement of reasons (EU DSA Art. 17), issued with the decision.
        noticed = any(r.code == NOTICE_CODE for r in draft.reasons) or (
            not new and await store.has_notice(comment.id)
        )
        statement = statement_for(
            action=draft.action,
            by=draft.by,
            reasons=draft.reasons,
            ground=draft.ground,
            legal_ground=draft.legal_ground,
            at=at,
            previous=None if new else comment.decision,
            noticed=noticed,
            guidelines=guidelines,
        )
    appeal = None if new else await store.open_appeal(comment.id)
    if appeal is not None:
        # An open appeal (EU DSA Art. 20) keeps the comment queued whatever its status.
        queue = QueueState(
            priority=max(queue.priority if queue else 0, APPEAL_PRIORITY),
            codes=tuple(sorted({*(queue.codes if queue else ()), APPEAL_CODE})),
            categories=queue.categories if queue else (),
        )
    decision = await store.record_decision(
        comment.id,
        draft,
        guidelines_version=guidelines.version,
        at=at,
        queue=queue,
        statement=statement,
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
    if review_here:  # the live queue (services/live.py): what entered, changed in or left it
        await live.note_decision(
            store,
            comment.id,
            scope=comment.scope,
            status=status.value,
            was_queued=not new and (previous is Status.pending or appeal is not None),
            queued=queue is not None,
            moderator=(draft.moderator_key_id, draft.moderator)
            if draft.moderator_key_id and draft.moderator
            else None,
            wake=observers.queue_changed if observers else None,
        )
    if observers is not None:
        codes = tuple(sorted({r.code for r in draft.reasons}))
        store.after_commit(lambda: observers.decided(draft.action, draft.by, codes))
    if observers is not None and draft.by == "moderator" and draft.moderator is not None:
        moderated = _moderated(comment, draft, appeal, at)
        store.after_commit(lambda: observers.moderated(moderated))
    if draft.action is Action.reject and guidelines.auto_premoderate is not None:
        await _maybe_premoderate(store, decided, guidelines, author_status)
    return decided


def _moderated(
    comment: Comment, draft: DecisionDraft, appeal: Appeal | None, at: datetime
) -> ModeratorDecided:
    """What the EU DSA metrics learn of a moderator's decision, from what ``record`` has
    read already (no further read)."""
    assert draft.moderator is not None
    since = queued_since(comment)
    reason = None
    if since is not None and comment.decision is not None:
        reason = main_reason(comment.decision.reasons, appealed=appeal is not None)
    elif appeal is not None:  # a restricted comment queued by its appeal alone
        since, reason = appeal.received_at, APPEAL_CODE
    leaves = STATUS_OF[draft.action] is not Status.pending
    previous = comment.decision
    return ModeratorDecided(
        moderator=draft.moderator,
        queue_reason=reason if leaves else None,
        waited_seconds=max(0.0, (at - since).total_seconds()) if leaves and since else None,
        agreed=agreed(previous.action, draft.action)
        if previous is not None and previous.by == "auto"
        else None,
    )


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
        scope=comment.scope,
    )
