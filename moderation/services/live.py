"""The live queue: what moderators' pages hear of the review queue as it changes.

Writing: :func:`note` (and :func:`note_decision`, which ``services/decisions.record``
calls) adds one row to the change feed in the transaction that makes the change, so a
change is pushed if and only if it committed, by whichever process reads it
(``workers/live_feed``). Changes that matter: a comment entering the queue, changing in
it, claimed, released, decided or deleted.

Reading: :meth:`Live.open` authenticates a stream, subscribes it to its key's scope and
gives it what it should send first — the changes after its ``Last-Event-ID`` (when the
feed still has them; else a ``reset``) and the exact pending count.

A browser's ``EventSource`` cannot send an ``Authorization`` header, and an API key must
never be in a URL (URLs end up in logs and histories). So the page first asks
:meth:`Live.issue_token` for a stream token with its key — random, stored as a digest,
valid for ``token_ttl_s`` and good for one stream — and opens the stream with it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from moderation.domain.errors import Unauthorized
from moderation.domain.live import ChangeKind, QueueChange
from moderation.domain.models import ApiKey, Role, utcnow
from moderation.domain.text import text_problem
from moderation.services.keys import authenticate, digest, require
from moderation.storage.database import Database
from moderation.storage.store import Store
from moderation.workers.live_feed import Count, FeedItem, LiveFeed, Subscriber

TOKEN_PREFIX = "sst_"
#: At most this many changes are replayed to a reconnecting stream; beyond, a reset.
MAX_REPLAY = 1000


async def note(
    store: Store,
    kind: ChangeKind,
    comment_id: str,
    *,
    scope: str | None,
    status: str | None,
    actor: tuple[str, str] | None = None,
    wake: Callable[[], None] | None = None,
) -> None:
    """Add a change of the comment ``comment_id`` (a stored id of ``scope``) to the feed,
    in ``store``'s transaction; ``actor``: (id, name) of the key that made it; ``wake``
    (the feed's) is called once the transaction has committed."""
    await store.add_queue_change(
        kind,
        comment_id,
        scope=scope,
        status=status,
        at=utcnow(),
        actor_key_id=actor[0] if actor else None,
        actor=actor[1] if actor else None,
    )
    if wake is not None:
        store.after_commit(wake)


async def note_decision(
    store: Store,
    comment_id: str,
    *,
    scope: str | None,
    status: str,
    was_queued: bool,
    queued: bool,
    moderator: tuple[str, str] | None,
    wake: Callable[[], None] | None,
) -> None:
    """A decision was recorded: a change when the comment entered the queue (``held``),
    stays in it (``updated``) or left it (``decided``); nothing when it was never there.
    ``moderator``: (key id, key name) of a moderator's decision."""
    if queued:
        kind = ChangeKind.updated if was_queued else ChangeKind.held
    elif was_queued:
        kind = ChangeKind.decided
    else:
        return
    await note(store, kind, comment_id, scope=scope, status=status, actor=moderator, wake=wake)


@dataclass(frozen=True, slots=True)
class StreamToken:
    token: str
    expires_at: datetime


@dataclass(slots=True)
class Stream:
    """An open stream: its key, its subscription, and what to send before what the feed
    brings: the replayed changes (or ``reset``: they could not be had) and the count."""

    key: ApiKey
    subscriber: Subscriber
    backlog: list[FeedItem] = field(default_factory=list)
    reset: bool = False


@dataclass(slots=True)
class Live:
    db: Database
    feed: LiveFeed
    token_ttl_s: float = 60.0

    async def issue_token(self, key: ApiKey) -> StreamToken:
        """A single-use token that opens one stream for ``key`` within ``token_ttl_s``."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires_at = utcnow() + timedelta(seconds=self.token_ttl_s)
        async with self.db.transaction() as store:
            await store.add_stream_token(digest(token), key.id, expires_at)
        return StreamToken(token=token, expires_at=expires_at)

    async def authenticate(self, authorization: str | None, token: str | None) -> ApiKey:
        """The key of a stream: a moderator's (or admin's), by ``Authorization: Bearer``
        or by a stream token, which this uses up. 401 / 403 otherwise."""
        if authorization:
            key = await authenticate(self.db, authorization)
        elif token:
            key = await self._take(token)
        else:
            raise Unauthorized(
                "a stream needs a token (POST /v1/queue/events/token) or an Authorization header",
                code="missing_key",
            )
        require(key, Role.moderator)
        return key

    async def _take(self, token: str) -> ApiKey:
        refused = Unauthorized("unknown, used or expired stream token", code="invalid_stream_token")
        if not token.startswith(TOKEN_PREFIX) or len(token) > 100 or text_problem(token):
            raise refused
        async with self.db.transaction() as store:
            key_id = await store.take_stream_token(digest(token), utcnow())
            key = None if key_id is None else await store.key_by_id(key_id)
        if key is None or key.revoked_at is not None:
            raise refused
        return key

    async def open(self, key: ApiKey, last_event_id: int | None = None) -> Stream:
        """Subscribe a stream of ``key``'s scope; replay what came after ``last_event_id``."""
        subscriber, seen = await self.feed.subscribe(key.scope, key.id)
        stream = Stream(key=key, subscriber=subscriber)
        try:
            async with self.db.transaction(write=False) as store:
                if last_event_id is not None and last_event_id < seen:
                    replay = await self._replay(store, key.scope, last_event_id, seen)
                    if replay is None:
                        stream.reset = True
                    else:
                        stream.backlog.extend(replay)
                        subscriber.skip(change.id for change in replay)
                counts = await store.queue_counts([key.scope], utcnow())
        except BaseException:
            self.close(stream)
            raise
        stream.backlog.append(Count(counts[key.scope]))
        return stream

    @staticmethod
    async def _replay(
        store: Store, scope: str | None, after: int, through: int
    ) -> list[QueueChange] | None:
        """``scope``'s changes after ``after`` up to ``through``; None when some are gone
        (pruned) or too many."""
        lowest, _ = await store.queue_change_bounds()
        if after < lowest - 1 or after < 0:
            return None
        changes = await store.queue_changes_after(after, MAX_REPLAY + 1, scope=scope)
        changes = [c for c in changes if c.id <= through]
        return None if len(changes) > MAX_REPLAY else changes

    def close(self, stream: Stream) -> None:
        self.feed.unsubscribe(stream.subscriber)

    async def still_valid(self, key: ApiKey) -> bool:
        """Whether ``key`` still works (a revoked key's streams end within a heartbeat)."""
        async with self.db.transaction(write=False) as store:
            current = await store.key_by_id(key.id)
        return current is not None and current.revoked_at is None
