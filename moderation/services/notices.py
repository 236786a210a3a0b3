"""Notices under the EU Digital Services Act, Art. 16 (``domain/notices.py``).

:func:`hold_for_notice` sends a noticed comment (back) to the review queue, in the
transaction that stores the notice (``services/comments.Moderation.notify``);
:func:`settle` decides the comment's open notices in the transaction of a moderator's
decision (``services/review.Review.decide``) and writes their ``notice.decided`` events to
the outbox, like the comment events of that decision.
"""

from __future__ import annotations

from moderation.domain.guidelines import Guidelines
from moderation.domain.models import Action, Comment, DecisionDraft, Reason, Status, utcnow
from moderation.domain.notices import NOTICE_CODE, OUTCOME_OF, Notice, notice_message
from moderation.services import decisions, webhooks
from moderation.storage.store import Store


async def hold_for_notice(
    store: Store,
    comment: Comment,
    notice: Notice,
    guidelines: Guidelines,
    observers: decisions.Observers | None = None,
) -> Comment:
    """A new automatic hold citing the notice (code ``notice``), ahead of ordinary items in
    the queue (``decisions.CODE_FLOOR``). A pending comment keeps its reasons and gains this
    one; one whose current decision already cites a notice is left as it is."""
    previous = comment.decision
    kept: tuple[Reason, ...] = ()
    if comment.status is Status.pending and previous is not None:
        if any(r.code == NOTICE_CODE for r in previous.reasons):
            return comment
        kept = previous.reasons
    reason = Reason(
        NOTICE_CODE,
        Action.hold,
        notice_message(notice.category),
        guideline=guidelines.sections.get(NOTICE_CODE),
    )
    draft = DecisionDraft(
        action=Action.hold,
        by="auto",
        reasons=(*kept, reason),
        message="This comment is being reviewed by a moderator after a notice.",
        scores=previous.scores if previous else None,
        classifier=previous.classifier if previous else None,
        store_scores=False,
    )
    return await decisions.record(store, comment, draft, guidelines, observers=observers)


async def settle(
    store: Store,
    comment: Comment,
    action: Action,
    observers: decisions.Observers | None = None,
) -> list[Notice]:
    """A moderator decided ``comment`` (as decided now): its open notices are decided —
    a rejection takes action, an approval takes none — and ``notice.decided`` is written
    for each."""
    outcome = OUTCOME_OF.get(action)
    if outcome is None:
        return []
    decided = await store.decide_notices(comment.id, outcome, utcnow())
    written = False
    for notice in decided:
        written = await webhooks.emit_notice_decided(store, notice, comment) or written
    if written and observers is not None:
        store.after_commit(observers.events_written)
    return decided
