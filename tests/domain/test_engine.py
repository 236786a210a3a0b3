"""The decision engine, as pure functions."""

from __future__ import annotations

from pathlib import Path

import pytest

from moderation.domain.engine import Context, Policy, compile_policy, decide
from moderation.domain.models import Action, ArticleMode, AuthorStatus
from moderation.http.guidelines_document import GuidelinesDocument, load_toml

ROOT = Path(__file__).resolve().parents[2]


def policy_from(document: dict[str, object]) -> object:
    return compile_policy(GuidelinesDocument.model_validate(document).to_domain(7))


BASE = {
    "rules": [
        {
            "id": "no-threats",
            "category": "threat",
            "title": "No threats of violence",
            "guideline": "3",
            "hold_at": 0.5,
            "reject_at": 0.9,
        },
        {
            "id": "civil",
            "category": "toxicity",
            "title": "Keep it civil",
            "guideline": "1",
            "hold_at": 0.8,
            "reject_at": 0.97,
            "classifiers": {"linear": {"hold_at": 0.9, "reject_at": None}},
        },
        {
            "id": "no-insults",
            "category": "insult",
            "title": "No insults",
            "guideline": "4",
            "hold_at": None,
            "reject_at": 0.95,
        },
    ],
    "banned_terms": ["badword", "white power"],
    "suspect_terms": ["vermin"],
    "hold_links": True,
    "sections": {
        "banned_term": "8",
        "suspect_term": "8",
        "link": "9",
        "author": "11",
        "article": "12",
        "classifier_unavailable": "14",
    },
    "overrides": [
        {"article_tags": ["war crimes"], "rules": [{"id": "no-threats", "hold_at": 0.3}]}
    ],
}


@pytest.fixture
def policy() -> object:
    return policy_from(BASE)


def test_below_every_threshold_approves(policy: object) -> None:
    verdict = decide(policy, "fine", {"threat": 0.1, "toxicity": 0.2}, "detoxify:unbiased")  # type: ignore[arg-type]
    assert verdict.action is Action.approve
    assert verdict.reasons == ()
    assert "published" in verdict.message


@pytest.mark.parametrize(
    ("score", "action"),
    [
        (0.49, Action.approve),
        (0.5, Action.hold),
        (0.89, Action.hold),
        (0.9, Action.reject),
        (1.0, Action.reject),
    ],
)
def test_threshold_boundaries_are_inclusive(policy: object, score: float, action: Action) -> None:
    verdict = decide(policy, "x", {"threat": score}, "detoxify:unbiased")  # type: ignore[arg-type]
    assert verdict.action is action


def test_reason_fields_and_message_cite_the_guideline(policy: object) -> None:
    verdict = decide(policy, "x", {"threat": 0.93, "toxicity": 0.85}, "detoxify:unbiased")  # type: ignore[arg-type]
    assert verdict.action is Action.reject
    by_rule = {r.rule: r for r in verdict.reasons}
    threat = by_rule["no-threats"]
    assert (threat.code, threat.category, threat.score, threat.threshold, threat.action) == (
        "threshold",
        "threat",
        0.93,
        0.9,
        Action.reject,
    )
    assert by_rule["civil"].action is Action.hold  # every triggered rule is a reason
    assert "no threats of violence (guideline 3)" in verdict.message
    assert "guideline 1" not in verdict.message  # the message explains the winning outcome


def test_most_severe_wins(policy: object) -> None:
    verdict = decide(policy, "vermin", {"insult": 0.99}, "detoxify:unbiased")  # type: ignore[arg-type]
    assert verdict.action is Action.reject
    assert {r.code for r in verdict.reasons} == {"threshold", "suspect_term"}


def test_null_threshold_never_triggers(policy: object) -> None:
    verdict = decide(policy, "x", {"insult": 0.9}, "detoxify:unbiased")  # type: ignore[arg-type]
    assert verdict.action is Action.approve


def test_classifier_specific_thresholds(policy: object) -> None:
    scores = {"toxicity": 0.98}
    assert decide(policy, "damn", scores, "detoxify:unbiased").action is Action.reject  # type: ignore[arg-type]
    linear = decide(policy, "damn", scores, "linear")  # type: ignore[arg-type]
    assert linear.action is Action.hold
    assert linear.reasons[0].threshold == 0.9


def test_family_thresholds_apply_to_every_model_of_the_family() -> None:
    document = BASE | {
        "rules": [
            {
                "id": "civil",
                "category": "toxicity",
                "title": "Civil",
                "guideline": "1",
                "hold_at": 0.5,
                "reject_at": 0.6,
                "classifiers": {
                    "detoxify": {"reject_at": 0.99},
                    "detoxify:original": {"hold_at": 0.7},
                },
            },
        ],
        "overrides": [],
    }
    policy = policy_from(document)
    assert decide(policy, "x", {"toxicity": 0.65}, "detoxify:unbiased").action is Action.hold  # type: ignore[arg-type]
    assert decide(policy, "x", {"toxicity": 0.65}, "detoxify:original").action is Action.approve  # type: ignore[arg-type]
    assert decide(policy, "x", {"toxicity": 0.65}, "other").action is Action.reject  # type: ignore[arg-type]


def test_classifier_unavailable_holds_never_approves(policy: object) -> None:
    verdict = decide(policy, "fine", None, "linear")  # type: ignore[arg-type]
    assert verdict.action is Action.hold
    assert verdict.reasons[0].code == "classifier_unavailable"
    assert verdict.reasons[0].guideline == "14"
    # banned terms are still refused without the classifier
    assert decide(policy, "badword", None, "linear").action is Action.reject  # type: ignore[arg-type]


def test_terms_and_links(policy: object) -> None:
    banned = decide(policy, "You B4DW0RD!", {}, "linear")  # type: ignore[arg-type]
    assert banned.action is Action.reject
    assert banned.reasons[0].terms == ("badword",)
    assert decide(policy, "WHITE   power forever", {}, "linear").action is Action.reject  # type: ignore[arg-type]
    assert decide(policy, "they are v\u0435rmin", {}, "linear").action is Action.hold  # type: ignore[arg-type]
    assert decide(policy, "see https://example.com/x", {}, "linear").reasons[0].code == "link"  # type: ignore[arg-type]
    assert decide(policy, "a badwordly thing", {}, "linear").action is Action.approve  # type: ignore[arg-type]


def test_links_allowed_when_not_held() -> None:
    policy = policy_from(BASE | {"hold_links": False})
    assert decide(policy, "see https://example.com/x", {}, "linear").action is Action.approve  # type: ignore[arg-type]


def test_article_and_author_context(policy: object) -> None:
    premoderated = Context(article_mode=ArticleMode.premoderate)
    verdict = decide(policy, "fine", {}, "linear", premoderated)  # type: ignore[arg-type]
    assert (verdict.action, verdict.reasons[0].code) == (Action.hold, "article_premoderated")
    banned = decide(policy, "fine", {}, "linear", Context(author_status=AuthorStatus.banned))  # type: ignore[arg-type]
    assert (banned.action, banned.reasons[0].code, banned.reasons[0].guideline) == (
        Action.reject,
        "author_banned",
        "11",
    )
    held = decide(policy, "fine", {}, "linear", Context(author_status=AuthorStatus.premoderated))  # type: ignore[arg-type]
    assert (held.action, held.reasons[0].code) == (Action.hold, "author_premoderated")


def test_tag_overrides(policy: object) -> None:
    scores = {"threat": 0.35}
    assert decide(policy, "x", scores, "d").action is Action.approve  # type: ignore[arg-type]
    tagged = Context(article_tags=frozenset({"war crimes"}))
    verdict = decide(policy, "x", scores, "d", tagged)  # type: ignore[arg-type]
    assert verdict.action is Action.hold
    assert verdict.reasons[0].threshold == 0.3


def test_missing_categories_are_skipped(policy: object) -> None:
    assert decide(policy, "x", {"toxicity": 0.1}, "linear").action is Action.approve  # type: ignore[arg-type]


class TestDefaultGuidelines:
    """The shipped guidelines behave as documented."""

    @pytest.fixture
    def default(self) -> Policy:
        return compile_policy(load_toml(ROOT / "guidelines" / "default.toml").to_domain(1))

    def test_every_category_has_a_rule(self, default: Policy) -> None:
        from moderation.domain.guidelines import CATEGORIES

        assert {r.category for r in default.guidelines.rules} == set(CATEGORIES)

    def test_linear_never_rejects_on_scores(self, default: Policy) -> None:
        for rule in default.guidelines.rules:
            if rule.category == "toxicity":
                assert rule.thresholds_for("linear")[1] is None

    def test_rules_cite_sections_that_exist(self, default: Policy) -> None:
        text = (ROOT / "guidelines" / "COMMUNITY_GUIDELINES.md").read_text()
        cited = {r.guideline for r in default.guidelines.rules}
        cited |= set(default.guidelines.sections.values())
        for section in cited:
            assert f"## {section}." in text, section

    def test_every_reason_that_is_not_a_rule_cites_a_section(self, default: Policy) -> None:
        """A statement of reasons names the guideline behind each decision: a reason the
        shipped document maps to no section would cite none."""
        from moderation.domain.guidelines import SECTION_KEYS

        assert set(default.guidelines.sections) == set(SECTION_KEYS)

    def test_quoting_the_article_is_not_a_threat_on_linear(self, default: Policy) -> None:
        """The ``linear`` classifier itself scores the texts (no hard-coded score): fails
        when its scores change so that a quoted killing is held, or so that a plain
        insult is not (scores inverted, a constant, another model's scale)."""
        from classifiers.linear import LinearClassifier

        linear = LinearClassifier()
        quote = "The soldiers were shot while retreating, the article says."
        insult = "you are an idiot"
        (quote_scores, insult_scores) = linear.predict([quote, insult])
        assert quote_scores["toxicity"] < 0.5 < insult_scores["toxicity"]
        verdict = decide(default, quote, quote_scores, linear.name)
        assert (verdict.action, verdict.reasons) == (Action.approve, ())
        # The same path holds what it should: the approval above is the classifier's.
        held = decide(default, insult, insult_scores, linear.name)
        assert held.action is Action.hold
        assert [(r.code, r.category) for r in held.reasons] == [("threshold", "toxicity")]
