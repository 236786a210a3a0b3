"""The moderators' side: the review queue, leases on its items, human decisions, authors.

Claims are leases: ``claim`` hands each pending comment to one key for the
guidelines' ``claim_seconds``; a lease that runs out returns the comment to the
queue by itself (claims test ``claim_expires_at <= now``; nothing needs to
sweep). A moderator may decide any comment, including overturning an
automatic decision, except one another key's live lease holds (409).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

from moderation.domain.errors import Conflict, NotFound, ValidationFailed
from moderation.domain.guidelines import Rule
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
from moderation.domain.scopes import to_stored, to_stored_optional
from moderation.services import decisions, notices
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
        self, filters: QueueFilter, *, limit: int, offset: int = 0, scope: str | None = None
    ) -> tuple[list[QueueEntry], int]:
        """``scope``'s queue (``filters.article_id`` is an id of that scope)."""
        async with self.db.transaction(write=False) as store:
            return await store.queue(
                now=utcnow(),
                limit=limit,
                offset=offset,
                article_id=to_stored_optional(scope, filters.article_id),
                category=filters.category,
                reason=filters.reason,
                scope=scope,
            )

    async def claim(self, key: ApiKey, limit: int, filters: QueueFilter) -> list[QueueEntry]:
        """Lease up to ``limit`` comments of ``key``'s scope to ``key`` (its own live leases
        are renewed)."""
        async with self.db.transaction() as store:
            policy = await self.policies.current(store)
            now = utcnow()
            return await store.claim(
                key_id=key.id,
                key_name=key.name,
                limit=limit,
                now=now,
                until=now + timedelta(seconds=policy.guidelines.claim_seconds),
                article_id=to_stored_optional(key.scope, filters.article_id),
                category=filters.category,
                scope=key.scope,
            )

    async def rules(self) -> tuple[Rule, ...]:
        """The rules of the guidelines in force (what a moderator may cite)."""
        async with self.db.transaction(write=False) as store:
            return (await self.policies.current(store)).guidelines.rules

    async def release(self, key: ApiKey, ids: Sequence[str] | None) -> int:
        if ids is not None:
            ids = [to_stored(key.scope, i) for i in ids]
        async with self.db.transaction() as store:
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
            text = reason or (
                "approved by a moderator"
                if action is Action.approve
                else f"{rule.title} (section {rule.guideline})"
                if rule is not None
                else "rejected by a moderator"
            )
            message = (
                "A moderator reviewed your comment and published it."
                if action is Action.approve
                else f"A moderator reviewed your comment and did not publish it: {text}."
            )
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
            )
            author, recent = await store.author(author_id), await store.author_recent(author_id)
        return replace(author, id=api_id), recent
