"""Transparency reports (EU Digital Services Act, Art. 15 and 24): the figures of a period.

A pure function of the period's records (``services/transparency.py`` reads them):

* ``notices``: ``total`` notices received in the period, ``by_category``, and the median
  hours from receipt to decision of the notices decided in the period (null: none).
* ``decisions``: the restricting decisions taken in the period that carry a statement of
  reasons (every one since migration 0011): ``total``, ``by_ground`` (``guidelines`` |
  ``illegal``) and ``automated`` (``fully`` | ``partially`` | ``not``, from the
  statements' ``automated_decision``).
* ``appeals``: ``received`` in the period; ``upheld`` and ``reversed``: decided in the
  period; the median hours from receipt to decision of those (null: none).
* ``automated_accuracy``: moderators' decisions in the period whose preceding decision was
  automatic (``decided_by_moderators_after_auto``), and how many ``agreed`` with it: a
  moderator's approval after an automatic approval, or a rejection after an automatic hold
  or rejection.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from moderation.domain.appeals import Appeal, AppealOutcome
from moderation.domain.models import Action, Decision, Ground
from moderation.domain.notices import Notice
from moderation.domain.statements import AUTOMATED_FULLY, AUTOMATED_PARTIALLY, restricts


def _within(at: datetime | None, start: datetime, end: datetime) -> bool:
    return at is not None and start <= at < end


def _median_hours(spans: Sequence[timedelta]) -> float | None:
    if not spans:
        return None
    return round(median(span / timedelta(hours=1) for span in spans), 2)


def agreed(automatic: Action, moderator: Action) -> bool:
    """Whether a moderator's decision agrees with the automatic one before it."""
    if moderator is Action.approve:
        return automatic is Action.approve
    return restricts(automatic)


def report(
    start: datetime,
    end: datetime,
    notices: Sequence[Notice],
    decisions: Sequence[tuple[Decision, Decision | None]],
    appeals: Sequence[Appeal],
) -> dict[str, Any]:
    """The figures of ``[start, end)``. ``decisions``: each decision taken in the period,
    with the comment's decision before it (None: its first)."""
    received = [n for n in notices if _within(n.received_at, start, end)]
    notices_decided = [
        n.decided_at - n.received_at
        for n in notices
        if n.decided_at is not None and _within(n.decided_at, start, end)
    ]
    stated = [d for d, _ in decisions if d.statement is not None and _within(d.at, start, end)]
    automated = Counter(d.statement.automated_decision for d in stated if d.statement)
    after_auto: list[tuple[Decision, Decision]] = []
    for decision, before in decisions:
        if (
            decision.by == "moderator"
            and before is not None
            and before.by == "auto"
            and _within(decision.at, start, end)
        ):
            after_auto.append((decision, before))
    appeals_decided = [
        a for a in appeals if a.decided_at is not None and _within(a.decided_at, start, end)
    ]
    return {
        "notices": {
            "total": len(received),
            "by_category": dict(sorted(Counter(n.category for n in received).items())),
            "median_hours_to_action": _median_hours(notices_decided),
        },
        "decisions": {
            "total": len(stated),
            "by_ground": {
                ground.value: sum(1 for d in stated if d.ground is ground) for ground in Ground
            },
            "automated": {
                "fully": automated[AUTOMATED_FULLY],
                "partially": automated[AUTOMATED_PARTIALLY],
                "not": len(stated) - automated[AUTOMATED_FULLY] - automated[AUTOMATED_PARTIALLY],
            },
        },
        "appeals": {
            "received": sum(1 for a in appeals if _within(a.received_at, start, end)),
            "upheld": sum(1 for a in appeals_decided if a.outcome is AppealOutcome.upheld),
            "reversed": sum(1 for a in appeals_decided if a.outcome is AppealOutcome.reversed),
            "median_hours_to_decision": _median_hours(
                [a.decided_at - a.received_at for a in appeals_decided if a.decided_at]
            ),
        },
        "automated_accuracy": {
            "decided_by_moderators_after_auto": len(after_auto),
            "agreed": sum(1 for d, before in after_auto if agreed(before.action, d.action)),
        },
    }
