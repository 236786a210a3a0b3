"""Threshold suggestions: per-category ``hold_at`` and ``reject_at`` from moderators' decisions.

:func:`suggest` needs no policy: it reads which comments the moderators approved
and rejected, and at what scores.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from moderation.domain.guidelines import CATEGORIES
from moderation.domain.models import Action
from moderation.domain.records import Case

__all__ = ["Suggestion", "suggest"]

_Floats = npt.NDArray[np.float64]
_Bools = npt.NDArray[np.bool_]
_NAN = float("nan")


@dataclass(frozen=True, slots=True)
class Suggestion:
    """Suggested thresholds for one category, from the moderators' decisions.

    ``reject_at``: the lowest observed score such that the moderators rejected at
    least the target share of the moderated comments scoring at or above it.
    ``hold_at``: the highest observed score (not above ``reject_at``) such that
    they approved at least the target share of those scoring below it. Either is
    ``None`` when no threshold has ``min_evidence`` comments on its side.
    """

    category: str
    classifier: str
    hold_at: float | None
    reject_at: float | None
    reject_precision: float | None
    """Share of comments at or above ``reject_at`` the moderators rejected."""
    reject_evidence: int
    """Moderated comments at or above ``reject_at``."""
    approve_precision: float | None
    """Share of comments below ``hold_at`` the moderators approved."""
    approve_evidence: int
    """Moderated comments below ``hold_at``."""
    evidence: int
    """Moderated comments with a score for the category."""
    rejected: int
    """Of those, how many the moderators rejected."""
    explanation: str

    def to_json(self) -> dict[str, Any]:
        """Every field, under its own name."""
        return {
            "category": self.category,
            "classifier": self.classifier,
            "hold_at": self.hold_at,
            "reject_at": self.reject_at,
            "reject_precision": self.reject_precision,
            "reject_evidence": self.reject_evidence,
            "approve_precision": self.approve_precision,
            "approve_evidence": self.approve_evidence,
            "evidence": self.evidence,
            "rejected": self.rejected,
            "explanation": self.explanation,
        }


def suggest(
    cases: Iterable[Case],
    *,
    classifier: str,
    target_precision: float = 0.95,
    min_evidence: int = 20,
) -> list[Suggestion]:
    """Suggest ``hold_at``/``reject_at`` per category from moderated cases.

    Uses the cases scored by ``classifier`` that a moderator approved or rejected,
    one category at a time: "hold less, but keep auto-reject at least
    ``target_precision`` right". Candidate thresholds are the observed scores, so
    the cost is a sort per category. Categories come in the contract's order.
    """
    approve, reject = Action.approve, Action.reject
    scored: list[Mapping[str, float]] = []
    verdicts: list[bool] = []
    for case in cases:
        moderator = case.moderator
        if case.classifier != classifier or case.scores is None:
            continue
        if moderator is reject or moderator is approve:
            scored.append(case.scores)
            verdicts.append(moderator is reject)
    present = {category for scores in scored for category in scores}
    order = {category: index for index, category in enumerate(CATEGORIES)}
    rejected_all = np.array(verdicts, dtype=np.bool_)
    suggestions: list[Suggestion] = []
    for category in sorted(present, key=lambda c: (order.get(c, len(order)), c)):
        values = np.array([s.get(category, _NAN) for s in scored], dtype=np.float64)
        known = ~np.isnan(values)
        suggestions.append(
            _suggest_one(
                category,
                classifier,
                values[known],
                rejected_all[known],
                target_precision,
                min_evidence,
            )
        )
    return suggestions


def _suggest_one(
    category: str,
    classifier: str,
    scores: _Floats,
    rejected: _Bools,
    target: float,
    min_evidence: int,
) -> Suggestion:
    n = int(scores.size)
    need = max(min_evidence, 1)
    if n == 0:
        return Suggestion(
            category=category,
            classifier=classifier,
            hold_at=None,
            reject_at=None,
            reject_precision=None,
            reject_evidence=0,
            approve_precision=None,
            approve_evidence=0,
            evidence=0,
            rejected=0,
            explanation=f"{category}: no moderated comment has a score for it.",
        )

    # reject_at: sweep thresholds from the top; at the last case of each run of
    # equal scores, everything at or above that score is on the reject side.
    order = np.argsort(-scores, kind="stable")
    descending = scores[order]
    rejects_above = np.cumsum(rejected[order])
    ends = np.flatnonzero(np.append(descending[1:] != descending[:-1], True))
    count = ends + 1
    share = rejects_above[ends] / count
    fits = np.flatnonzero((count >= need) & (share >= target))
    reject_at: float | None = None
    reject_precision: float | None = None
    reject_evidence = 0
    if fits.size:
        best = int(ends[fits[-1]])  # the lowest such threshold
        reject_at = float(descending[best])
        reject_evidence = best + 1
        reject_precision = float(rejects_above[best]) / reject_evidence

    # hold_at: sweep from the bottom; at the first case of each run of equal
    # scores, everything strictly below it would be approved.
    ascending = scores[order[::-1]]
    approved = ~rejected[order[::-1]]
    approvals_below = np.concatenate(([0], np.cumsum(approved)))
    starts = np.flatnonzero(np.insert(ascending[1:] != ascending[:-1], 0, True))
    below = starts
    with np.errstate(invalid="ignore", divide="ignore"):
        approve_share = approvals_below[starts] / below
    allowed = (below >= need) & (approve_share >= target)
    if reject_at is not None:
        # A hold above the reject threshold is invalid guidelines (and pointless).
        allowed &= ascending[starts] <= reject_at
    fits = np.flatnonzero(allowed)
    hold_at: float | None = None
    approve_precision: float | None = None
    approve_evidence = 0
    if fits.size:
        best = int(starts[fits[-1]])  # the highest such threshold
        hold_at = float(ascending[best])
        approve_evidence = best
        approve_precision = float(approvals_below[best]) / best

    total_rejected = int(np.count_nonzero(rejected))
    return Suggestion(
        category=category,
        classifier=classifier,
        hold_at=hold_at,
        reject_at=reject_at,
        reject_precision=reject_precision,
        reject_evidence=reject_evidence,
        approve_precision=approve_precision,
        approve_evidence=approve_evidence,
        evidence=n,
        rejected=total_rejected,
        explanation=_explain(
            category,
            target,
            need,
            n,
            (reject_at, reject_precision, reject_evidence),
            (hold_at, approve_precision, approve_evidence),
        ),
    )


def _explain(
    category: str,
    target: float,
    need: int,
    evidence: int,
    reject: tuple[float | None, float | None, int],
    hold: tuple[float | None, float | None, int],
) -> str:
    reject_at, reject_precision, reject_count = reject
    hold_at, approve_precision, approve_count = hold
    parts: list[str] = []
    if reject_at is not None and reject_precision is not None:
        parts.append(
            f"reject at {reject_at:.3f}: moderators rejected {reject_precision:.1%} of the "
            f"{reject_count} moderated comments scoring at or above it"
        )
    else:
        parts.append(
            f"no reject threshold: no score has at least {need} moderated comments at or "
            f"above it of which {target:.0%} were rejected"
        )
    if hold_at is not None and approve_precision is not None:
        parts.append(
            f"hold at {hold_at:.3f}: moderators approved {approve_precision:.1%} of the "
            f"{approve_count} moderated comments scoring below it, which could be approved "
            "automatically"
        )
    else:
        parts.append(
            f"no hold threshold: no score has at least {need} moderated comments below it "
            f"of which {target:.0%} were approved"
        )
    return f"{category} ({evidence} moderated comments): " + "; ".join(parts) + "."
