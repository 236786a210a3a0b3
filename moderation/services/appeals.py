"""Appeals under the EU Digital Services Act, Art. 20 (``domain/appeals.py``).

:meth:`Appeals.appeal` (the website, for the comment's author) opens an appeal against the
comment's current restricting decision and puts the comment in the review queue with reason
``appeal`` (``decisions.CODE_FLOOR``), its status unchanged; :meth:`Appeals.decide` (a
moderator other than the one who took the appealed decision) upholds it or reverses it — a
reversal is a moderator's approval, recorded like any other (``decisions.record``), so the
comment is published and ``comment.approved`` goes out — and writes ``appeal.decided``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from moderation.domain.appeals import (
    APPEAL_CODE,
    Appeal,
    AppealOutcome,
    AppealStatus,
    appeal_until,
    same_moderator,
)
from moderation.domain.errors import Conflict, Forbidden, NotFound
from moderation.domain.live import ChangeKind
from moderation.domain.models import Action, ApiKey, Comment, DecisionDraft, Reason, Status, utcnow
from moderation.domain.scopes import column_value, to_stored
from moderation.domain.statements import restricts
from moderation.services import decisions, live, notices, webhooks
from moderation.services.policies import PolicyCache
from moderation.storage.database import Database
from moderation.storage.store import Store


@dataclass(slots=True)
class Appeals:
    db: Database
    policies: PolicyCache
    observers: decisions.Observers = field(default_factory=decisions.Observers)

    async def appeal(
        self, comment_id: str, author_id: str, explanation: str, *, scope: str | None = None
    ) -> Appeal:
        """The author's appeal against the comment's current restricting decision.

        404 ``comment_not_found`` (also another scope's comment); 403 ``not_the_author``
        when ``author_id`` is not the comment's author; 409 ``comment_deleted``,
        ``nothing_to_appeal`` (nothing restricts the comment), ``appeal_window_closed``
        (later than the decision's time plus ``appeal_days``), ``appeal_open`` (one is
        already open)."""
        comment_id = to_stored(scope, comment_id)
        async with self.db.transaction() as store:
            comment = await store.comment(comment_id, lock=True)
            if comment is None:
                raise NotFound("no such comment", code="comment_not_found")
            if comment.author_id != to_stored(scope, author_id):
                raise Forbidden(
                    "only the comment's author may appeal its moderation", code="not_the_author"
                )
            if comment.deleted_at is not None:
                raise Conflict("this comment was deleted by its author", code="comment_deleted")
            decision = comment.decision
            if decision is None or not restricts(decision.action):
                raise Conflict(
                    "nothing restricts this comment: there is nothing to appeal",
                    code="nothing_to_appeal",
                )
            policy = await self.policies.current(store)
            now = utcnow()
            if now > appeal_until(decision, policy.guidelines.appeal_days):
                raise Conflict(
                    "the time to appeal this decision is over", code="appeal_window_closed"
                )
            if await store.open_appeal(comment_id) is not None:
                raise Conflict("an appeal on this comment is already open", code="appeal_open")
            appeal = await store.add_appeal(
                Appeal(
                    id="apl_" + secrets.token_hex(12),
                    comment_id=comment_id,
                    scope=comment.scope,
                    decision_id=decision.id,
                    status=AppealStatus.open,
                    received_at=now,
                    appealed_by=decision.by,
                    appealed_moderator_key_id=decision.moderator_key_id,
                ),
                explanation,
            )
            await store.queue_appeal(comment_id, decisions.APPEAL_PRIORITY)
            await live.note(  # the live queue (services/live.py)
                store,
                ChangeKind.updated if comment.status is Status.pending else ChangeKind.held,
                comment_id,
                scope=comment.scope,
                status=comment.status.value,
                wake=self.observers.queue_changed,
            )
        return appeal

    async def get(self, appeal_id: str, *, scope: str | None = None) -> Appeal:
        """An appeal on a comment of ``scope``; another scope's is not found."""
        async with self.db.transaction(write=False) as store:
            appeal = await store.appeal(appeal_id)
        if appeal is None or column_value(appeal.scope) != column_value(scope):
            raise NotFound("no such appeal", code="appeal_not_found")
        return appeal

    async def of_comment(
        self, comment_id: str, *, scope: str | None = None
    ) -> list[tuple[Appeal, str | None]]:
        """For moderators: the appeals on a comment of ``scope``, with the author's
        explanation; 404 ``comment_not_found`` (also another scope's comment)."""
        stored = to_stored(scope, comment_id)
        async with self.db.transaction(write=False) as store:
            if await store.comment(stored) is None:
                raise NotFound("no such comment", code="comment_not_found")
            return await store.appeals_of(stored)

    async def decide(
        self, key: ApiKey, appeal_id: str, outcome: AppealOutcome, reason: str
    ) -> tuple[Appeal, Comment]:
        """A moderator's answer to an appeal of ``key``'s scope: 404 ``appeal_not_found``;
        409 ``appeal_decided`` (already), ``same_moderator`` (``key`` took the appealed
        decision, or the one in force now), ``claimed_by_other`` (another moderator's
        claim on the comment lasts), ``comment_deleted`` (a deleted comment cannot be
        published again)."""
        async with self.db.transaction() as store:
            appeal = await store.appeal(appeal_id, lock=True)
            if appeal is None or column_value(appeal.scope) != column_value(key.scope):
                raise NotFound("no such appeal", code="appeal_not_found")
            if appeal.status is not AppealStatus.open:
                raise Conflict("this appeal was decided already", code="appeal_decided")
            comment = await store.comment(appeal.comment_id, lock=True, history=True)
            assert comment is not None  # comments are never removed, only erased
            # The decision in force counts too: a moderator who decided the comment while
            # its appeal was open (confirming the restriction, say) would judge their own.
            current = comment.decision
            if same_moderator(appeal.appealed_by, appeal.appealed_moderator_key_id, key.id) or (
                current is not None and same_moderator(current.by, current.moderator_key_id, key.id)
            ):
                raise Conflict(
                    "an appeal is decided by a moderator who did not take the appealed decision",
                    code="same_moderator",
                )
            now = utcnow()
            holder = await store.claim_holder(comment.id, now)
            if holder is not None and holder[0] != key.id:
                raise Conflict(
                    "another moderator's claim on this comment is still running",
                    code="claimed_by_other",
                )
            if outcome is AppealOutcome.reversed and comment.deleted_at is not None:
                raise Conflict("this comment was deleted by its author", code="comment_deleted")
            decided = await store.decide_appeal(appeal.id, outcome, reason, key.name, key.id, now)
            if outcome is AppealOutcome.reversed:
                comment = await self._publish(store, key, comment, reason)
            else:
                await store.unqueue_appeal(comment.id, pending=comment.status is Status.pending)
                await live.note(  # the live queue (services/live.py)
                    store,
                    ChangeKind.updated if comment.status is Status.pending else ChangeKind.decided,
                    comment.id,
                    scope=comment.scope,
                    status=comment.status.value,
                    actor=(key.id, key.name),
                    wake=self.observers.queue_changed,
                )
                # Upheld: no decision is recorded, but a moderator decided (EU DSA metrics);
                # a held comment stays queued for its hold.
                leaves = comment.status is not Status.pending
                moderated = decisions.ModeratorDecided(
                    moderator=key.name,
                    queue_reason=APPEAL_CODE if leaves else None,
                    waited_seconds=(now - appeal.received_at).total_seconds() if leaves else None,
                )
                store.after_commit(lambda: self.observers.moderated(moderated))
            if await webhooks.emit_appeal_decided(store, decided, comment):
                store.after_commit(self.observers.events_written)
        return decided, comment

    async def _publish(self, store: Store, key: ApiKey, comment: Comment, reason: str) -> Comment:
        """The appeal succeeded: a moderator's approval, recorded as any other."""
        policy = await self.policies.current(store)
        previous = comment.decision
        draft = DecisionDraft(
            action=Action.approve,
            by="moderator",
            moderator=key.name,
            moderator_key_id=key.id,
            reasons=(Reason("moderator", Action.approve, f"reversed on appeal: {reason}"),),
            message="A moderator reviewed your appeal and published your comment.",
            scores=previous.scores if previous else None,
            classifier=previous.classifier if previous else None,
            store_scores=False,
        )
        decided = await decisions.record(
            store, comment, draft, policy.guidelines, observers=self.observers
        )
        await notices.settle(store, decided, Action.approve, observers=self.observers)
        return decided
