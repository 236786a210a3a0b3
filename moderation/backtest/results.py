"""What a backtest finds, and its JSON: BacktestResult, ModeratorAgreement, Sample.

Plain frozen data; ``to_json`` turns each into its part of the HTTP answer's body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from moderation.backtest.frame import ACTIONS
from moderation.domain.models import Action, Reason

__all__ = ["BacktestResult", "ModeratorAgreement", "Sample"]


def _matrix_json(counts: Sequence[int]) -> dict[str, dict[str, int]]:
    return {
        source.value: {target.value: int(counts[3 * i + j]) for j, target in enumerate(ACTIONS)}
        for i, source in enumerate(ACTIONS)
    }


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True, slots=True)
class Sample:
    """One case whose decision would change, with the proposed reasons.

    ``current_reasons`` are those the guidelines in force give it (empty when the backtest
    had none), so a change to approve still names the rule that held or rejected it.
    ``text`` is the comment's text, so an admin reads what would change, not an id;
    ``None`` once its author deleted it (the text is erased, never shown), and unless the
    caller fills it in (``services.guidelines`` does, for the caller's scope).
    """

    comment_id: str
    before: Action
    after: Action
    reasons: tuple[Reason, ...]
    scores: Mapping[str, float] | None
    classifier: str
    created_at: datetime
    current_reasons: tuple[Reason, ...] = ()
    text: str | None = None

    def to_json(self) -> dict[str, Any]:
        """``comment_id``, ``text`` (null when deleted), ``from``, ``to``, ``reasons`` and
        ``current_reasons`` (as dicts), ``scores``, ..."""
        return {
            "comment_id": self.comment_id,
            "text": self.text,
            "from": self.before.value,
            "to": self.after.value,
            "reasons": [reason.as_dict() for reason in self.reasons],
            "current_reasons": [reason.as_dict() for reason in self.current_reasons],
            "scores": dict(self.scores) if self.scores is not None else None,
            "classifier": self.classifier,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ModeratorAgreement:
    """How one set of decisions compares with the moderators' decisions.

    ``table[m][p]`` counts cases the moderators decided ``m`` (approve or reject)
    and the policy decided ``p`` (approve, hold or reject).
    """

    table: tuple[tuple[int, int, int], tuple[int, int, int]]

    def to_json(self) -> dict[str, Any]:
        """Precision/recall of auto-reject and auto-approve, agreement and holds.

        Precision divides by what the policy decided, recall by what the moderators
        decided; ``agreement`` is the share of the automatically decided cases
        (holds excluded, they are counted in ``held``) that match the moderators.
        A share with a zero denominator is ``null``.
        """
        (m_approve, m_approve_hold, m_approve_reject) = self.table[0]
        (m_reject_approve, m_reject_hold, m_reject) = self.table[1]
        approved = m_approve + m_reject_approve
        rejected = m_approve_reject + m_reject
        agreed = m_approve + m_reject
        disagreed = m_approve_reject + m_reject_approve
        return {
            "auto_reject": {
                "decided": rejected,
                "correct": m_reject,
                "precision": _share(m_reject, rejected),
                "recall": _share(m_reject, sum(self.table[1])),
            },
            "auto_approve": {
                "decided": approved,
                "correct": m_approve,
                "precision": _share(m_approve, approved),
                "recall": _share(m_approve, sum(self.table[0])),
            },
            "agreement": _share(agreed, agreed + disagreed),
            "agreed": agreed,
            "disagreed": disagreed,
            "held": m_approve_hold + m_reject_hold,
        }


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """What :func:`backtest` found; :meth:`to_json` is the HTTP answer's body."""

    total: int
    matrix: tuple[int, ...]
    """Stored -> proposed counts, row-major over (approve, hold, reject)."""
    samples: tuple[Sample, ...]
    evidence: int
    proposed_vs_moderators: ModeratorAgreement
    stored_vs_moderators: ModeratorAgreement
    current_matrix: tuple[int, ...] | None = None
    """Current -> proposed counts, both re-decided; ``None`` without ``current``."""
    current_vs_moderators: ModeratorAgreement | None = None

    @property
    def changed(self) -> int:
        """Cases whose proposed decision differs from the stored one."""
        return self.total - sum(self.matrix[0::4])

    def to_json(self) -> dict[str, Any]:
        """``total``, ``matrix``, ``changed``, ``samples``, ``moderators`` and, when a
        current policy was given, ``current`` (its matrix to the proposed one)."""
        moderators: dict[str, Any] = {
            "evidence": self.evidence,
            "proposed": self.proposed_vs_moderators.to_json(),
            "stored": self.stored_vs_moderators.to_json(),
        }
        data: dict[str, Any] = {
            "total": self.total,
            "matrix": _matrix_json(self.matrix),
            "changed": self.changed,
            "counts": {
                "stored": _column_counts(self.matrix, by_row=True),
                "proposed": _column_counts(self.matrix, by_row=False),
            },
            "samples": [sample.to_json() for sample in self.samples],
            "moderators": moderators,
        }
        if self.current_matrix is not None:
            data["current"] = {
                "matrix": _matrix_json(self.current_matrix),
                "changed": self.total - sum(self.current_matrix[0::4]),
            }
            if self.current_vs_moderators is not None:
                moderators["current"] = self.current_vs_moderators.to_json()
        return data


def _column_counts(matrix: Sequence[int], *, by_row: bool) -> dict[str, int]:
    return {
        action.value: int(sum(matrix[3 * i : 3 * i + 3]) if by_row else sum(matrix[i::3][:3]))
        for i, action in enumerate(ACTIONS)
    }
