"""Figures shared by training and evaluation: per-category metrics and decision rates.

Decisions here use the scores alone, as the brief for the thresholds defines them: a
comment is **rejected** when any category reaches its ``reject_at``, else **held** when
any reaches its ``hold_at``, else **approved**. The service's engine also holds links
and suspect terms and rejects banned terms; those are not modelled here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy
import numpy.typing as npt

Matrix = npt.NDArray[numpy.float64]
APPROVE, HOLD, REJECT = 0, 1, 2
ACTIONS = ("approve", "hold", "reject")


@dataclass(frozen=True, slots=True)
class Thresholds:
    """``hold_at`` / ``reject_at`` for one category; ``None`` means never."""

    hold_at: float | None
    reject_at: float | None


def actions(
    probabilities: Matrix,
    categories: Sequence[str],
    thresholds: Mapping[str, Thresholds],
) -> npt.NDArray[numpy.int64]:
    """:data:`APPROVE`, :data:`HOLD` or :data:`REJECT` per row (the most severe wins)."""
    result = numpy.zeros(len(probabilities), dtype=numpy.int64)
    for column, category in enumerate(categories):
        limits = thresholds.get(category)
        if limits is None:
            continue
        scores = probabilities[:, column]
        if limits.hold_at is not None:
            result = numpy.maximum(result, HOLD * (scores >= limits.hold_at))
        if limits.reject_at is not None:
            result = numpy.maximum(result, REJECT * (scores >= limits.reject_at))
    return result


def decision_rates(
    decided: npt.NDArray[numpy.int64], expect: Sequence[str]
) -> dict[str, dict[str, float | int]]:
    """Per ``expect`` value: ``n`` and the share (in %) approved, held and rejected."""
    labels = numpy.asarray(expect)
    rates: dict[str, dict[str, float | int]] = {}
    for value in ("violating", "review", "fine"):
        mask = labels == value
        count = int(mask.sum())
        row: dict[str, float | int] = {"n": count}
        for code, action in enumerate(ACTIONS):
            row[action] = 100.0 * float((decided[mask] == code).sum()) / count if count else 0.0
        rates[value] = row
    return rates


@dataclass(frozen=True, slots=True)
class CategoryMetrics:
    """Detection figures for one category at one threshold, and threshold-free ones."""

    positives: int
    precision: float
    recall: float
    f1: float
    roc_auc: float
    brier: float


def category_metrics(scores: Matrix, truth: Matrix, threshold: float = 0.5) -> CategoryMetrics:
    """Precision, recall and F1 of ``scores >= threshold``; ROC AUC; Brier score."""
    from sklearn.metrics import roc_auc_score

    y = truth.astype(bool)
    predicted = scores >= threshold
    true_positives = float((predicted & y).sum())
    precision = true_positives / predicted.sum() if predicted.any() else 0.0
    recall = true_positives / y.sum() if y.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    auc = float(roc_auc_score(y, scores)) if 0 < y.sum() < len(y) else float("nan")
    brier = float(numpy.mean((scores - y) ** 2))
    return CategoryMetrics(int(y.sum()), precision, recall, f1, auc, brier)
