"""The live queue: what changed in the review queue, as moderators' pages hear of it.

Every change that matters to a queue view is one :class:`QueueChange`, written in the
transaction that makes it (``services/live.note``) and pushed to the moderators of its
scope (``workers/live_feed``, ``http/routes/live``). The kinds are named here, once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class ChangeKind(enum.StrEnum):
    """What happened to a comment, seen from the review queue."""

    #: It entered the queue (held on submission or edit, reports, a notice, an appeal).
    held = "held"
    #: It stays queued but changed (edited, held again for other reasons).
    updated = "updated"
    #: A moderator claimed it (or renewed the claim).
    claimed = "claimed"
    #: Its claim was given back.
    released = "released"
    #: It left the queue by a decision (a moderator's, or an upheld appeal's end).
    decided = "decided"
    #: Its author deleted it: it left the queue.
    deleted = "deleted"


#: The kinds after which a comment is no longer in the queue.
LEAVES_QUEUE: frozenset[ChangeKind] = frozenset({ChangeKind.decided, ChangeKind.deleted})


@dataclass(frozen=True, slots=True)
class QueueChange:
    """One change of the queue, as stored: ``id`` grows with every change (the stream's
    event id); ``comment_id`` is the stored id of a comment of ``scope``; ``status`` the
    comment's status after it; ``actor_key_id``/``actor`` the key that made it (a
    moderator's claim or decision), None for the service and the website."""

    id: int
    kind: ChangeKind
    comment_id: str
    scope: str | None
    status: str | None
    actor_key_id: str | None
    actor: str | None
    at: datetime
