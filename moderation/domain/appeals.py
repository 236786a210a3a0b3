"""Appeals: the internal complaint-handling system of the EU Digital Services Act, Art. 20.

The author of a comment that a decision restricts (a rejection, or a hold) may appeal it,
through the website, for the guidelines' ``appeal_days`` after the decision. The comment
keeps its status while the appeal is open; the appeal waits in the review queue (reason
``appeal``) and a moderator decides it — not the moderator who took the appealed decision.
``reversed`` publishes the comment (a moderator's approval); ``upheld`` leaves it as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from moderation.domain.models import Decision

APPEAL_CODE = "appeal"
"""The queue reason of a comment whose restriction is appealed."""

MAX_EXPLANATION_CHARS = 5_000
MAX_REASON_CHARS = 1_000


class AppealStatus(StrEnum):
    open = "open"
    decided = "decided"


class AppealOutcome(StrEnum):
    upheld = "upheld"
    reversed = "reversed"


@dataclass(frozen=True, slots=True)
class Appeal:
    """A stored appeal. ``comment_id`` is the stored id; ``scope`` the comment's website;
    ``decision_id`` the appealed decision, and who took it (for ``same_moderator``)."""

    id: str
    comment_id: str
    scope: str | None
    decision_id: int
    status: AppealStatus
    received_at: datetime
    appealed_by: str  # "auto" | "moderator"
    appealed_moderator_key_id: str | None = None
    outcome: AppealOutcome | None = None
    decided_at: datetime | None = None
    moderator_key_id: str | None = None


def appeal_until(decision: Decision, appeal_days: int) -> datetime:
    """The last moment to appeal ``decision``: what its statement of reasons said, else
    (a decision from before statements) its time plus ``appeal_days``."""
    if decision.statement is not None:
        return decision.statement.appeal_until
    return decision.at + timedelta(days=appeal_days)


def same_moderator(decision_by: str, decision_key_id: str | None, key_id: str) -> bool:
    """Whether the key deciding an appeal took the appealed decision (an automatic decision
    was taken by no moderator: any may decide its appeal)."""
    return decision_by == "moderator" and decision_key_id == key_id
