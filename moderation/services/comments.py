"""The website's side of moderation: submit, batch, read, edit, delete, report, articles.

Scoring happens before the write transaction (a transaction never waits on the
model); the decision itself is taken inside the transaction that stores the
comment, with the guidelines, article and author state read in that same
transaction, so a 201 means the comment and its decision are committed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from classifiers.base import Scores
from moderation.domain.engine import Context
from moderation.domain.errors import Conflict, NotFound, ServiceError
from moderation.domain.guidelines import Guidelines, example_key
from moderation.domain.live import ChangeKind
from moderation.domain.models import (
    Action,
    Article,
    ArticleMode,
    Comment,
    DecisionDraft,
    Reason,
    Status,
    Verdict,
    utcnow,
)
from moderation.domain.notices import NewNotice, Notice
from moderation.domain.scopes import column_value, to_stored, to_stored_optional
from moderation.services import decisions, live, notices
from moderation.services.policies import PolicyCache, decide_text
from moderation.services.shadow import ShadowCache, decide_in_shadow
from moderation.storage.database import Database
from moderation.storage.store import Store
from moderation.workers.group_commit import GroupCommit
from moderation.workers.scorer import Overloaded, Scored, Scorer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NewComment:
    id: str
    article_id: str
    author_id: str
    text: str
    author_name: str | None = None
    parent_id: str | None = None
    article_tags: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return text_digest(self.text)

    def stored_in(self, scope: str | None) -> NewComment:
        """This comment with the stored ids of ``scope`` (``domain/scopes.py``)."""
        if not scope:
            return self
        return replace(
            self,
            id=to_stored(scope, self.id),
            article_id=to_stored(scope, self.article_id),
            author_id=to_stored(scope, self.author_id),
            parent_id=to_stored_optional(scope, self.parent_id),
        )


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Checked:
    """A draft's would-be decision (the nudge before posting)."""

    verdict: Verdict
    scores: Scores | None
    classifier: str
    guidelines_version: int


@dataclass(frozen=True, slots=True)
class Submitted:
    comment: Comment
    created: bool


async def forget_text(store: Store, text: str) -> None:
    """A deleted comment's text leaves every guidelines version that learned it as an
    example, and every stored reason that quoted it as the nearest example. A rule whose
    last example it was loses its counterexamples too: they only say where the examples
    stop, and a document with counterexamples but no examples is one ``PUT`` refuses, so
    what ``GET`` returns could not be sent back. When the version in force had the text,
    a new version without it is made, so that every process recompiles (a compiled
    policy is cached per version number)."""
    key = example_key(text)
    latest = await store.latest_guidelines_version()
    in_force: dict[str, Any] | None = None
    for version, document in await store.versions_mentioning(text):
        changed = False
        for rule in document.get("rules", ()):
            for field_name in ("examples", "counterexamples"):
                kept = [t for t in rule.get(field_name, ()) if example_key(t) != key]
                if len(kept) != len(rule.get(field_name, ())):
                    rule[field_name] = kept
                    changed = True
            if rule.get("counterexamples") and not rule.get("examples"):
                rule["counterexamples"] = []
                changed = True
        if changed:
            await store.rewrite_guidelines(version, document)
            if version == latest:
                in_force = document
    if in_force is not None:
        await store.lock_guidelines()
        number = await store.latest_guidelines_version() + 1
        await store.add_guidelines(
            number, in_force, "system", utcnow(), "removed a deleted comment from the examples"
        )
        await store.audit(
            "system", "guidelines.update", str(number), {"erased": True}, utcnow(), shared=True
        )
    await store.erase_quotes(text)


async def _score_within(scorer: Scorer, texts: Sequence[str], deadline_s: float) -> list[Scored]:
    """``scorer``'s results for ``texts`` if they come within ``deadline_s``, else unscored.

    On the deadline the texts' future is cancelled, which takes them out of the model's
    queue if their batch has not started: nobody waits for those scores any more."""
    unscored = [Scored(None, scorer.name) for _ in texts]
    timeout = min(deadline_s, scorer.timeout_s)
    if timeout <= 0:
        return unscored
    try:
        future = scorer.submit(texts)
    except Overloaded:
        return unscored
    try:
        # wait_for cancels the future when the time is up.
        return await asyncio.wait_for(future, timeout)
    except TimeoutError:
        return unscored
    except Exception as exc:  # the backend raised: hold, never approve
        log.error("classifier failed: %s", type(exc).__name__)
        return unscored


@dataclass(slots=True)
class Moderation:
    """The service functions, with what they need to run."""

    db: Database
    scorer: Scorer
    policies: PolicyCache
    observers: decisions.Observers = field(default_factory=decisions.Observers)
    shadow: ShadowCache = field(default_factory=ShadowCache)
    writer: GroupCommit | None = None  # None: one transaction per submission
    shadow_scorer: Scorer | None = None  # a second classifier for shadow runs

    async def _score(
        self, texts: Sequence[str], deadline_s: float | None = None
    ) -> tuple[list[Scored], list[Scored]]:
        """Scores from the live classifier, and from the shadow one when configured.

        With ``deadline_s``, texts not scored within it come back unscored (the engine
        holds them with ``classifier_unavailable``), and so do texts a full queue refuses:
        a caller with a deadline is answered in time rather than refused."""
        if deadline_s is not None:
            scorers = [self.scorer, *([self.shadow_scorer] if self.shadow_scorer else [])]
            results = await asyncio.gather(
                *(_score_within(scorer, texts, deadline_s) for scorer in scorers)
            )
            return results[0], results[-1]
        if self.shadow_scorer is None:
            live = await self.scorer.score_named(texts)
            return live, live
        live, shadow = await asyncio.gather(
            self.scorer.score_named(texts), self.shadow_scorer.score_named(texts)
        )
        return live, shadow

    # -- submit ------------------------------------------------------------------------------

    async def submit(
        self,
        new: NewComment,
        *,
        deadline_s: float | None = None,
        review_here: bool = True,
        scope: str | None = None,
    ) -> Submitted:
        """Moderate and store one comment of ``scope``; idempotent on (id, text).

        Scores first, then one write transaction that inserts (or finds the existing
        comment), checks the article and decides. A retried submission is scored again
        and then answered with the stored comment: retries are rare, and skipping a
        read transaction on every new comment is worth more.

        ``deadline_s``: a comment not scored within it is decided unscored (held with
        ``classifier_unavailable``) instead of waiting; the write follows. ``review_here``:
        False when a hold is reviewed elsewhere (Coral's queue): it is recorded as pending
        but never enters this service's review queue (``decisions.record``).
        """
        new = new.stored_in(scope)
        try:
            (scores,), (shadow,) = await self._score([new.text], deadline_s)
        except Overloaded as full:
            # A retry of a stored comment is answered with it, not refused: the contract's
            # "same id, same text: 200" holds when the model's queue is full too.
            (answered,) = await self._stored_or([new], full)
            if isinstance(answered, ServiceError):
                raise answered from None
            return answered
        if self.writer is not None:
            return await self.writer.run(
                lambda store: self._store_new(
                    store, new, scores, shadow, review_here=review_here, scope=scope
                )
            )
        async with self.db.transaction() as store:
            return await self._store_new(
                store, new, scores, shadow, review_here=review_here, scope=scope
            )

    async def submit_many(
        self, batch: Sequence[NewComment], *, scope: str | None = None
    ) -> list[Submitted | ServiceError]:
        """Moderate a batch: scored together, stored in one transaction, errors per item."""
        results: list[Submitted | ServiceError] = []
        batch = [new.stored_in(scope) for new in batch]
        try:
            scores, shadow = await self._score([new.text for new in batch])
        except Overloaded as full:
            # Retries of stored comments are answered with them, as a single submission's
            # are, and only the new ones refused; a batch of new ones only is a 429 whole.
            answered = await self._stored_or(batch, full)
            if all(result is full for result in answered):
                raise
            return answered
        async with self.db.transaction() as store:
            for new, item_scores, item_shadow in zip(batch, scores, shadow, strict=True):
                try:
                    results.append(
                        await self._store_new(store, new, item_scores, item_shadow, scope=scope)
                    )
                except ServiceError as error:
                    results.append(error)
                # Each item's statements and decision run without yielding on SQLite (the
                # inline connection), so a batch of 100 texts of 2,000 characters held the
                # event loop for half a second in one piece. The transaction stays open;
                # other requests get the loop between items.
                await asyncio.sleep(0)
        return results

    async def _stored_or(
        self, batch: Sequence[NewComment], refusal: ServiceError
    ) -> list[Submitted | ServiceError]:
        """Each comment of ``batch`` as stored before (or the conflict of a stored id with
        another text), else ``refusal``."""
        results: list[Submitted | ServiceError] = []
        async with self.db.transaction(write=False) as store:
            for new in batch:
                try:
                    results.append(await self._existing(store, new) or refusal)
                except ServiceError as error:
                    results.append(error)
        return results

    async def _existing(self, store: Store, new: NewComment) -> Submitted | None:
        stored_digest = await store.comment_digest(new.id)
        if stored_digest is None:
            return None
        comment = await store.comment(new.id)
        assert comment is not None
        if stored_digest != new.digest:
            if comment.deleted_at is not None:
                # Its text (and digest) erased: whether this was the same text is unknown.
                raise Conflict("this comment was deleted", code="comment_deleted")
            raise Conflict(
                "a comment with this id exists with a different text", code="comment_exists"
            )
        return Submitted(comment=comment, created=False)

    async def _check_open(self, store: Store, article_id: str) -> Article | None:
        article = await store.article(article_id)
        if article is not None and article.mode is ArticleMode.closed:
            raise Conflict("this article is closed for comments", code="article_closed")
        return article

    async def _store_new(
        self,
        store: Store,
        new: NewComment,
        scores: Scored,
        shadow: Scored,
        *,
        review_here: bool = True,
        scope: str | None = None,
    ) -> Submitted:
        """``new`` carries stored ids (:meth:`NewComment.stored_in`) of ``scope``."""
        try:
            article = await self._check_open(store, new.article_id)
        except Conflict:
            # A retry of a comment stored before its article closed gets the comment.
            existing = await self._existing(store, new)
            if existing is None:
                raise
            return existing
        now = utcnow()
        inserted = await store.insert_comment(
            comment_id=new.id,
            article_id=new.article_id,
            author_id=new.author_id,
            author_name=new.author_name,
            parent_id=new.parent_id,
            text=new.text,
            text_sha256=new.digest,
            article_tags=new.article_tags,
            metadata=new.metadata,
            at=now,
            scope=scope,
        )
        if not inserted:  # stored before: a retry, a duplicate in a batch, or a race
            existing = await self._existing(store, new)
            assert existing is not None
            return existing
        comment = Comment(
            id=new.id,
            article_id=new.article_id,
            author_id=new.author_id,
            text=new.text,
            status=Status.pending,  # until the decision below
            created_at=now,
            updated_at=now,
            author_name=new.author_name,
            parent_id=new.parent_id,
            article_tags=new.article_tags,
            metadata=new.metadata,
            scope=scope,
        )
        decided = await self._decide(
            store, comment, article, scores, shadow, new=True, review_here=review_here
        )
        return Submitted(comment=decided, created=True)

    async def _decide(
        self,
        store: Store,
        comment: Comment,
        article: Article | None,
        scored: Scored,
        shadow: Scored,
        *,
        new: bool = False,
        review_here: bool = True,
    ) -> Comment:
        """Decide ``comment`` (its text as stored now) automatically, and record it."""
        text = comment.text or ""
        policy = await self.policies.current(store)
        tags = {t.casefold() for t in comment.article_tags}
        if article is not None:
            tags.update(t.casefold() for t in article.tags)
        context = Context(
            article_mode=article.mode if article is not None else ArticleMode.auto,
            article_tags=frozenset(tags),
            author_status=await store.author_status(comment.author_id),
            embedding=scored.embedding,
            language_supported=scored.language_supported,
            language=scored.language,
        )
        verdict = await decide_text(policy, text, scored.scores, scored.by, context)
        await decide_in_shadow(
            store,
            self.shadow,
            self.policies,
            comment.id,
            text,
            shadow.scores,
            shadow.by,
            replace(
                context,
                embedding=shadow.embedding if shadow.embedding is not None else scored.embedding,
                language_supported=shadow.language_supported,
            ),
            verdict.action,
        )
        draft = DecisionDraft(
            action=verdict.action,
            by="auto",
            reasons=verdict.reasons,
            message=verdict.message,
            scores=scored.scores,
            classifier=scored.by,
            embedding=scored.embedding,
        )
        return await decisions.record(
            store,
            comment,
            draft,
            policy.guidelines,
            new=new,
            author_status=context.author_status,
            observers=self.observers,
            review_here=review_here,
        )

    # -- read, edit, delete --------------------------------------------------------------------

    async def get(self, comment_id: str, *, scope: str | None = None) -> Comment:
        """A comment of ``scope`` by its API id; another scope's is not found."""
        async with self.db.transaction(write=False) as store:
            comment = await store.comment(to_stored(scope, comment_id), history=True)
        if comment is None:
            raise NotFound("no such comment", code="comment_not_found")
        return comment

    async def edit(self, comment_id: str, text: str, *, scope: str | None = None) -> Comment:
        """The author edited the comment: store the new text and moderate it again."""
        current = await self.get(comment_id, scope=scope)
        comment_id = current.id  # the stored id
        if current.deleted_at is not None:
            raise Conflict("this comment was deleted", code="comment_deleted")
        if current.text == text:
            return current
        (scores,), (shadow,) = await self._score([text])
        async with self.db.transaction() as store:
            comment = await store.comment(comment_id, lock=True, history=True)
            if comment is None:
                raise NotFound("no such comment", code="comment_not_found")
            if comment.deleted_at is not None:
                raise Conflict("this comment was deleted", code="comment_deleted")
            now = utcnow()
            await store.replace_text(comment_id, text, text_digest(text), now)
            article = await store.article(comment.article_id)
            edited = replace(comment, text=text, updated_at=now, revision=comment.revision + 1)
            return await self._decide(store, edited, article, scores, shadow)

    async def delete(self, comment_id: str, *, scope: str | None = None) -> Comment:
        """The author removed the comment: erase its text, keep its decision history."""
        comment_id = to_stored(scope, comment_id)
        async with self.db.transaction() as store:
            comment = await store.comment(comment_id, lock=True)
            if comment is None:
                raise NotFound("no such comment", code="comment_not_found")
            if comment.deleted_at is None:
                await store.erase_comment(comment_id, utcnow())
                await store.erase_notices(comment_id)
                await store.erase_appeals(comment_id)
                if comment.text:
                    await forget_text(store, comment.text)
                if comment.status is not Status.approved:  # held, or rejected and appealed
                    # The live queue (services/live.py): it leaves any moderator's view.
                    await live.note(
                        store,
                        ChangeKind.deleted,
                        comment_id,
                        scope=comment.scope,
                        status=comment.status.value,
                        wake=self.observers.queue_changed,
                    )
            deleted = await store.comment(comment_id, history=True)
        assert deleted is not None
        return deleted

    # -- reader reports ------------------------------------------------------------------------

    async def report(
        self, comment_id: str, reporter_id: str, reason: str | None, *, scope: str | None = None
    ) -> dict[str, Any]:
        """Record a reader report; enough distinct reporters send an approved comment back."""
        comment_id = to_stored(scope, comment_id)
        async with self.db.transaction() as store:
            comment = await store.comment(comment_id, lock=True)
            if comment is None:
                raise NotFound("no such comment", code="comment_not_found")
            new = await store.add_report(comment_id, reporter_id, reason, utcnow())
            reporters = await store.reporter_count(comment_id)
            policy = await self.policies.current(store)
            requeued = (
                new
                and comment.status is Status.approved
                and comment.deleted_at is None
                and reporters >= policy.guidelines.report_threshold
            )
            if requeued:
                await self._requeue_for_reports(store, comment, reporters, policy.guidelines)
        return {
            "accepted": True,
            "counted": new,
            "reporters": reporters,
            "status": Status.pending.value if requeued else comment.status.value,
        }

    async def _requeue_for_reports(
        self, store: Store, comment: Comment, reporters: int, guidelines: Guidelines
    ) -> None:
        reason = Reason(
            "reader_reports",
            Action.hold,
            f"{reporters} readers reported this comment",
            guideline=guidelines.sections.get("reader_reports"),
        )
        previous = comment.decision
        draft = DecisionDraft(
            action=Action.hold,
            by="auto",
            reasons=(reason,),
            message="This comment is being reviewed by a moderator after reader reports.",
            scores=previous.scores if previous else None,
            classifier=previous.classifier if previous else None,
            store_scores=False,
        )
        await decisions.record(store, comment, draft, guidelines, observers=self.observers)

    # -- notices (EU DSA Art. 16) -------------------------------------------------------------

    async def notify(self, comment_id: str, new: NewNotice, *, scope: str | None = None) -> Notice:
        """Store a reader's notice on a comment of ``scope`` and send the comment (back) to
        the review queue with reason ``notice`` (``services/notices.hold_for_notice``)."""
        comment_id = to_stored(scope, comment_id)
        async with self.db.transaction() as store:
            comment = await store.comment(comment_id, lock=True)
            if comment is None:
                raise NotFound("no such comment", code="comment_not_found")
            if comment.deleted_at is not None:
                raise Conflict("this comment was deleted by its author", code="comment_deleted")
            notice = await store.add_notice(
                "ntc_" + secrets.token_hex(12), comment_id, comment.scope, new, utcnow()
            )
            policy = await self.policies.current(store)
            await notices.hold_for_notice(
                store, comment, notice, policy.guidelines, observers=self.observers
            )
        return notice

    async def notice(self, notice_id: str, *, scope: str | None = None) -> Notice:
        """A notice on a comment of ``scope``; another scope's is not found."""
        async with self.db.transaction(write=False) as store:
            notice = await store.notice(notice_id)
        if notice is None or column_value(notice.scope) != column_value(scope):
            raise NotFound("no such notice", code="notice_not_found")
        return notice

    async def notices_of(
        self, comment_id: str, *, scope: str | None = None
    ) -> list[tuple[Notice, str | None, str | None]]:
        """For moderators: the notices on a comment of ``scope``, with what the reporter
        wrote (explanation, legal ground) and never who they are; 404 ``comment_not_found``
        (also another scope's comment)."""
        stored = to_stored(scope, comment_id)
        async with self.db.transaction(write=False) as store:
            if await store.comment(stored) is None:
                raise NotFound("no such comment", code="comment_not_found")
            return await store.notices_of(stored)

    # -- articles ------------------------------------------------------------------------------

    async def put_article(
        self,
        article_id: str,
        *,
        mode: ArticleMode,
        title: str | None,
        url: str | None,
        tags: Sequence[str],
        scope: str | None = None,
    ) -> tuple[Article, bool]:
        """Create or update an article of ``scope`` (its id is the website's own)."""
        async with self.db.transaction() as store:
            article, created = await store.put_article(
                to_stored(scope, article_id),
                mode=mode,
                title=title,
                url=url,
                tags=tags,
                at=utcnow(),
            )
        return replace(article, id=article_id), created

    async def check(self, text: str, *, article_tags: Sequence[str] = ()) -> Checked:
        """What the guidelines in force would decide for ``text``; stores nothing."""
        (scored,) = await self.scorer.score_named([text])
        async with self.db.transaction(write=False) as store:
            policy = await self.policies.current(store)
        context = Context(
            article_tags=frozenset(t.casefold() for t in article_tags),
            embedding=scored.embedding,
            language_supported=scored.language_supported,
            language=scored.language,
        )
        verdict = await decide_text(policy, text, scored.scores, scored.by, context)
        return Checked(verdict, scored.scores, scored.by, policy.version)
