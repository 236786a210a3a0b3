"""Queue priority: the exact numbers docs/review-queue.md ("Priority") promises.

Orderings alone pass when every floor is zero or the report bonus is gone; these pin
the values. Each case fails when its weight, floor, bonus or cap changes (zeroing
``CODE_FLOOR``, flattening ``CATEGORY_WEIGHT``, dropping the reporters term)."""

from __future__ import annotations

import pytest

from moderation.domain.appeals import APPEAL_CODE
from moderation.domain.models import Action, Reason
from moderation.services.decisions import priority


def threshold(category: str, score: float) -> Reason:
    return Reason(
        code="threshold", action=Action.hold, message="over", category=category, score=score
    )


def code(name: str) -> Reason:
    return Reason(code=name, action=Action.hold, message=name)


@pytest.mark.parametrize(
    ("category", "weight"),
    [
        ("severe_toxicity", 1.0),
        ("threat", 1.0),
        ("identity_attack", 0.9),
        ("sexual_explicit", 0.8),
        ("insult", 0.7),
        ("toxicity", 0.6),
        ("obscene", 0.5),
    ],
)
def test_a_triggered_category_is_its_weight_times_its_score(category: str, weight: float) -> None:
    assert priority([threshold(category, 1.0)]) == round(100 * weight)
    assert priority([threshold(category, 0.5)]) == round(50 * weight)


def test_representative_category_scores() -> None:
    assert priority([threshold("threat", 0.83)]) == 83
    assert priority([threshold("insult", 0.9)]) == 63  # 0.7 × 0.9
    assert priority([threshold("toxicity", 0.75)]) == 45  # 0.6 × 0.75
    # The most severe weighted category counts, not the sum.
    assert priority([threshold("obscene", 0.9), threshold("identity_attack", 0.6)]) == 54


@pytest.mark.parametrize(
    ("reason", "floor"),
    [
        # Documented in docs/review-queue.md:
        ("notice", 160),
        ("banned_term", 100),
        ("suspect_term", 60),
        ("classifier_unavailable", 50),
        ("link", 30),
        ("author_premoderated", 20),
        ("article_premoderated", 10),
        # Only in the code (moderation/services/decisions.py CODE_FLOOR):
        ("example", 70),
        ("unsupported_language", 30),
    ],
)
def test_every_other_reason_has_its_floor(reason: str, floor: int) -> None:
    assert priority([code(reason)]) == floor


def test_a_floor_and_a_score_take_the_higher() -> None:
    assert priority([threshold("toxicity", 0.7), code("suspect_term")]) == 60  # 42 < 60
    assert priority([threshold("threat", 0.9), code("suspect_term")]) == 90
    assert priority([code("link"), code("author_premoderated")]) == 30


def test_each_distinct_reader_report_adds_ten_up_to_fifty() -> None:
    assert [priority([], reporters=n) for n in range(8)] == [0, 10, 20, 30, 40, 50, 50, 50]
    # Reported comments the engine approved have no held reasons: reports alone rank them.
    assert priority([code("link")], reporters=2) == 50
    assert priority([threshold("threat", 0.95)], reporters=3) == 125
    assert priority([code("banned_term")], reporters=12) == 150
    # The top of the scale: a notice (1.6) plus the capped bonus.
    assert priority([code("notice"), threshold("threat", 1.0)], reporters=9) == 210


def test_a_notice_comes_before_every_ordinary_hold() -> None:
    # DSA Art. 16 notices: floor 1.6, above the top of the score scale and banned terms,
    # reader reports included (the contract: "ahead of ordinary items").
    assert priority([code("notice")]) == 160
    top_ordinary = priority([threshold("threat", 1.0), code("banned_term")], reporters=99)
    assert top_ordinary == 150
    assert priority([code("notice")]) > top_ordinary
    assert priority([code(APPEAL_CODE)]) > top_ordinary
    assert priority([code("notice"), threshold("threat", 0.9)], reporters=1) == 170
