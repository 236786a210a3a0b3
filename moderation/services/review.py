"""The moderators' side: the review queue, leases on its items, human decisions, authors.

Claims are leases: ``claim`` hands each pending comment to one key for the
guidelines' ``claim_seconds``; a lease that runs out returns the comment to the
queue by itself (claims test ``claim_expires_at <= now``; nothing needs to
sweep). A moderator may decide any comment, including overturning an
automatic decision, except one another key's live lease holds (409).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

from moderation.domain import grouping
from moderation.domain.errors import Conflict, NotFound, ServiceError, ValidationFailed
from moderation.domain.guidelines import Guidelines, Rule
from moderation.domain.live import ChangeKind
from moderation.domain.models import (
    Action,
    ApiKey,
    Author,
    AuthorStatus,
    Comment,
    DecisionDraft,
    Ground,
    Reason,
    Status,
    utcnow,
)
from moderation.domain.records import Page, QueueEntry
from moderation.domain.review import (
    MAX_BULK,
    MAX_SWEEP,
    THREAD_SIZE,
    BulkOutcome,
    Context,
    QueueItem,
    QueueOrder,
    score_lines,
)
from moderation.domain.scopes import to_api, to_stored, to_stored_optional
from moderation.services import decisions, live, notices
from moderation.services.policies import PolicyCache
from moderation.storage.database import Database


@dataclass(frozen=True, slots=True)
class QueueFilter:
    article_id: str | None = None
    category: str | None = None
    reason: str | None = None


@dataclass(slots=True)
class Review:
    db: Database
    policies: PolicyCache
    observers: decisions.Observers = field(default_factory=decisions.Observers)

    async def queue(
        self,
        filters: QueueFilter,
        *,
        limit: int,
        offset: int = 0,
        scope: str | None = None,
        order: QueueOrder = QueueOrder.priority,
    ) -> tuple[list[QueueItem], int]:
        """``scope``'s queue (``filters.article_id`` is an id of that scope), each item with
        its score lines and duplicate keys (:func:`_items`)."""
        async with self.db.transaction(write=False) as store:
            entries, total = await store.queue(
                now=utcnow(),
                limit=limit,
                offset=offset,
                article_id=to_stored_optional(scope, filters.article_id),
                category=filters.category,
                reason=filters.reason,
                scope=scope,
                oldest_first=order is QueueOrder.age,
            )
            guidelines = (await self.policies.current(store)).guidelines
        return await _items(entries, guidelines), total

    async def claim(
        self,
        key: ApiKey,
        limit: int,
        filters: QueueFilter,
        order: QueueOrder = QueueOrder.priority,
    ) -> list[QueueItem]:
        """Lease up to ``limit`` comments of ``key``'s scope to ``key`` (its own live leases
        are renewed), in ``order``."""
        async with self.db.transaction() as store:
            policy = await self.policies.current(store)
            now = utcnow()
            entries = await store.claim(
                key_id=key.id,
                key_name=key.name,
                limit=limit,
                now=now,
                until=now + timedelta(seconds=policy.guidelines.claim_seconds),
                article_id=to_stored_optional(key.scope, filters.article_id),
                category=filters.category,
                scope=key.scope,
                oldest_first=order is QueueOrder.age,
            )
            for entry in entries:  # the live queue: others' pages see the claim
                await live.note(
                    store,
                    ChangeKind.claimed,
                    entry.comment.id,
                    scope=key.scope,
                    status=entry.comment.status.value,
                    actor=(key.id, key.name),
                    wake=self.observers.queue_changed,
                )
        return await _items(entries, policy.guidelines)

    async def context(self, comment_id: str, *, scope: str | None = None) -> Context:
        """What surrounds a comment of ``scope``: its article, the comment it answers and
        its nearby thread (``domain/review.Context``)."""
        stored = to_stored(scope, comment_id)
        async with self.db.transaction(write=False) as store:
            comment = await store.comment(stored)
            if comment is None:
                raise NotFound("no such comment", code="comment_not_found")
            article = await store.article(comment.article_id)
            parent = await store.comment(comment.parent_id) if comment.parent_id else None
            siblings, replies = await store.thread_of(comment, THREAD_SIZE)
        if article is not None:
            article = replace(article, id=to_api(scope, article.id))
        return Context(comment, article, parent, tuple(siblings), tuple(replies))

    async def rules(self) -> tuple[Rule, ...]:
        """The rules of the guidelines in force (what a moderator may cite)."""
        async with self.db.transaction(write=False) as store:
            return (await self.policies.current(store)).guidelines.rules

    async def release(self, key: ApiKey, ids: Sequence[str] | None) -> int:
        if ids is not None:
            ids = [to_stored(key.scope, i) for i in ids]
        async with self.db.transaction() as store:
            for comment_id in await store.claimed_ids(key.id, ids):  # the live queue
                await live.note(
                    store,
                    ChangeKind.released,
                    comment_id,
                    scope=key.scope,
                    status=None,
                    actor=(key.id, key.name),
                    wake=self.observers.queue_changed,
                )
            return await store.release(key.id, ids)

    async def decide(
        self,
        key: ApiKey,
        comment_id: str,
        action: Action,
        reason: str | None,
        note: str | None,
        rule_id: str | None = None,
        revision: int | None = None,
        ground: Ground = Ground.guidelines,
        legal_ground: str | None = None,
    ) -> Comment:
        """A moderator's approve/reject; appended to the history, never overwriting it.

        ``rule_id`` names the rule the comment breaks: the decision then cites it (its
        guideline section and category) and becomes a label for that rule
        (``services/learning.py``). ``revision`` is the comment's revision the moderator
        read: if the author edited it (or anyone decided it) since, nothing is decided and
        the answer is 409 ``comment_changed`` — a moderator never publishes unread text.
        ``comment_id`` is an id of ``key``'s scope: another scope's comment is not found.
        ``ground`` is what a rejection rests on (EU DSA Art. 17): the guidelines or, with
        ``legal_ground`` naming the law, illegality; an approval rests on nothing.
        Every open notice on the comment is decided with it (``services/notices.settle``)."""
        comment_id = to_stored(key.scope, comment_id)
        async with self.db.transaction() as store:
            comment = await store.comment(comment_id, lock=True, history=True)
            if comment is None:
                raise NotFound("no such comment", code="comment_not_found")
            if comment.deleted_at is not None:
                # Its text is gone: approving would publish nothing, with a webhook of null.
                raise Conflict("this comment was deleted by its author", code="comment_deleted")
            if revision is not None and revision != comment.revision:
                raise Conflict(
                    "the comment changed since you read it; read it again",
                    code="comment_changed",
                )
            holder = await store.claim_holder(comment_id, utcnow())
            if holder is not None and holder[0] != key.id:
                raise Conflict(
                    "another moderator's claim on this comment is still running",
                    code="claimed_by_other",
                )
            policy = await self.policies.current(store)
            rule = None
            if rule_id is not None:
                rule = next((r for r in policy.guidelines.rules if r.id == rule_id), None)
                if rule is None:
                    raise ValidationFailed(
                        "rule names no rule of the guidelines in force", code="unknown_rule"
                    )
            previous = comment.decision
            cited = f"{rule.title} (section {rule.guideline})" if rule is not None else None
            if action is Action.approve:
                text = reason or "approved by a moderator"
                message = "A moderator reviewed your comment and published it."
            else:
                text = reason or cited or "rejected by a moderator"
                # The reader is always told the rule, also when the moderator wrote more.
                because = f"{reason} ({cited})" if reason and cited else text
                message = f"A moderator reviewed your comment and did not publish it: {because}."
            draft = DecisionDraft(
                action=action,
                by="moderator",
                moderator=key.name,
                moderator_key_id=key.id,
                reasons=(
                    Reason(
                        "moderator",
                        action,
                        text,
                        rule=rule.id if rule else None,
                        category=rule.category if rule else None,
                        guideline=rule.guideline if rule else None,
                    ),
                ),
                message=message,
                scores=previous.scores if previous else None,
                classifier=previous.classifier if previous else None,
                note=note,
                store_scores=False,
                ground=ground if action is Action.reject else Ground.guidelines,
                legal_ground=legal_ground if action is Action.reject else None,
            )
            decided = await decisions.record(
                store, comment, draft, policy.guidelines, observers=self.observers
            )
            # The open notices on it (EU DSA Art. 16) are decided with it.
            await notices.settle(store, decided, action, observers=self.observers)
            return decided

    async def decide_many(
        self,
        key: ApiKey,
        comment_ids: Sequence[str],
        action: Action,
        reason: str | None,
        note: str | None,
        rule_id: str | None = None,
    ) -> list[BulkOutcome]:
        """Decide each of ``comment_ids`` (ids of ``key``'s scope) exactly as
        :meth:`decide` would one by one — each in its own transaction, with its history
        row, webhook events, statement of reasons and notices — in the given order. What
        refuses one comment (another moderator's claim: 409 ``claimed_by_other``; deleted;
        unknown) is that comment's outcome, not the whole request's; an unknown ``rule``,
        repeated ids or more than ``MAX_BULK`` ids refuse the request (422)."""
        if not comment_ids:
            raise ValidationFailed("ids must name at least one comment", code="no_ids")
        if len(comment_ids) > MAX_BULK:
            raise ValidationFailed(
                f"at most {MAX_BULK} comments per bulk decision", code="too_many_ids"
            )
        if len(set(comment_ids)) != len(comment_ids):
            raise ValidationFailed("ids must not repeat", code="repeated_ids")
        await self._check_rule(rule_id)
        return [
            await self._decide_one(key, comment_id, action, reason, note, rule_id)
            for comment_id in comment_ids
        ]

    async def reject_pending_of(
        self,
        key: ApiKey,
        author_id: str,
        reason: str | None,
        note: str | None,
        rule_id: str | None = None,
    ) -> tuple[list[BulkOutcome], int]:
        """Reject an author's queued pending comments in ``key``'s scope, oldest first, at
        most ``MAX_SWEEP`` per call, each as :meth:`decide` would; and how many remain
        queued after (the caller repeats while some do, e.g. ones another moderator holds).
        Appealed comments that are not pending are left to their appeal."""
        await self._check_rule(rule_id)
        stored = to_stored(key.scope, author_id)
        async with self.db.transaction(write=False) as store:
            ids, _ = await store.queued_of_author(
                stored, now=utcnow(), limit=MAX_SWEEP, scope=key.scope
            )
        outcomes = [
            await self._decide_one(key, to_api(key.scope, i), Action.reject, reason, note, rule_id)
            for i in ids
        ]
        async with self.db.transaction(write=False) as store:
            _, remaining = await store.queued_of_author(
                stored, now=utcnow(), limit=0, scope=key.scope
            )
        return outcomes, remaining

    async def _check_rule(self, rule_id: str | None) -> None:
        """422 before anything is decided when ``rule_id`` names no rule in force."""
        if rule_id is None:
            return
        if all(r.id != rule_id for r in await self.rules()):
            raise ValidationFailed(
                "rule names no rule of the guidelines in force", code="unknown_rule"
            )

    async def _decide_one(
        self,
        key: ApiKey,
        comment_id: str,
        action: Action,
        reason: str | None,
        note: str | None,
        rule_id: str | None,
    ) -> BulkOutcome:
        try:
            decided = await self.decide(key, comment_id, action, reason, note, rule_id)
        except ServiceError as error:
            if error.status >= 500:
                raise
            return BulkOutcome(comment_id, None, error.status, error.code, error.message)
        return BulkOutcome(comment_id, decided)

    async def recent(
        self,
        *,
        limit: int,
        status: Status | None,
        article_id: str | None,
        author_id: str | None,
        after: Sequence[str] | None = None,
        scope: str | None = None,
    ) -> Page[Comment]:
        async with self.db.transaction(write=False) as store:
            return await store.recent_comments(
                limit=limit,
                status=status,
                article_id=to_stored_optional(scope, article_id),
                author_id=to_stored_optional(scope, author_id),
                after=after,
                scope=scope,
            )

    async def author(
        self, author_id: str, *, scope: str | None = None
    ) -> tuple[Author, list[Comment]]:
        """An author of ``scope``: their standing and recent comments in that scope."""
        stored = to_stored(scope, author_id)
        async with self.db.transaction(write=False) as store:
            author, recent = await store.author(stored), await store.author_recent(stored)
        return replace(author, id=author_id), recent

    async def set_author(
        self, key: ApiKey, author_id: str, status: AuthorStatus, reason: str | None
    ) -> tuple[Author, list[Comment]]:
        """Set the standing of an author of ``key``'s scope."""
        api_id, author_id = author_id, to_stored(key.scope, author_id)
        async with self.db.transaction() as store:
            before = await store.author_status(author_id)
            now = utcnow()
            await store.set_author(author_id, status, reason, now)
            await store.audit(
                key,
                "author.status",
                author_id,
                {"from": before.value, "to": status.value, "reason": reason},
                now,
                scope=key.scope,
            )
            author, recent = await store.author(author_id), await store.author_recent(author_id)
        return replace(author, id=api_id), recent


async def _items(entries: Sequence[QueueEntry], guidelines: Guidelines) -> list[QueueItem]:
    """Queue entries with their score lines (the guidelines in force, for each comment's
    classifier and article tags) and duplicate keys, computed off the event loop: the keys
    normalise every text (linear, but up to 100 texts of 20,000 characters)."""

    def build() -> list[QueueItem]:
        return [
            QueueItem(
                entry,
                score_lines(
                    guidelines,
                    entry.comment.decision.classifier if entry.comment.decision else None,
                    entry.comment.article_tags,
                ),
                grouping.duplicate_keys(entry.comment.text),
            )
            for entry in entries
        ]

    return await asyncio.to_thread(build) if entries else []
