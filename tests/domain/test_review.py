"""Score lines for the moderators' page (``moderation/domain/review.py``)."""

from __future__ import annotations

from moderation.domain.guidelines import from_document
from moderation.domain.review import Lines, score_lines

GUIDELINES = from_document(
    {
        "rules": [
            {
                "id": "civil",
                "category": "toxicity",
                "title": "Civil",
                "guideline": "1",
                "hold_at": 0.8,
                "reject_at": 0.95,
                "classifiers": {"linear": {"hold_at": 0.9}},
            },
            {
                "id": "strict",
                "category": "toxicity",
                "title": "Strict",
                "guideline": "2",
                "hold_at": 0.85,
                "reject_at": None,
            },
            {
                "id": "threats",
                "category": "threat",
                "title": "Threats",
                "guideline": "3",
                "hold_at": 0.5,
                "reject_at": 0.9,
            },
        ],
        "overrides": [{"article_tags": ["War"], "rules": [{"id": "threats", "hold_at": 0.3}]}],
    }
)


def test_the_lowest_line_per_category_for_the_classifier() -> None:
    assert score_lines(GUIDELINES, "detoxify:unbiased", ()) == {
        "toxicity": Lines(0.8, 0.95),
        "threat": Lines(0.5, 0.9),
    }
    # linear's own hold line on "civil" is higher than "strict"'s plain one.
    assert score_lines(GUIDELINES, "linear", ())["toxicity"] == Lines(0.85, 0.95)


def test_overrides_of_the_articles_tags_apply() -> None:
    assert score_lines(GUIDELINES, None, ("war",))["threat"] == Lines(0.3, 0.9)
    assert score_lines(GUIDELINES, None, ("peace",))["threat"] == Lines(0.5, 0.9)
