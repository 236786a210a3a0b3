"""Statements of reasons (EU DSA Art. 17): the pure function that writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from moderation.domain.guidelines import Guidelines, Rule
from moderation.domain.models import Action, Decision, Ground, Reason
from moderation.domain.notices import STATEMENT_CATEGORIES, notice_message, statement_category
from moderation.domain.statements import Statement, statement_for

AT = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
GUIDELINES = Guidelines(
    rules=(Rule("no-threats", "threat", "No threats of violence", "3", 0.5, 0.9),),
    appeal_days=200,
)
THREAT = Reason("threshold", Action.reject, "m", "no-threats", "threat", 0.93, 0.9, "3")
INSULTED = Reason("threshold", Action.hold, "m", None, "insult", 0.7, 0.5, "2")
MODERATOR = Reason("moderator", Action.reject, "my own words quoting 'you idiot'")
NOTICE = Reason("notice", Action.hold, notice_message("STATEMENT_CATEGORY_SCAMS_AND_FRAUD"))


def previous(action: Action, by: str, *reasons: Reason) -> Decision:
    return Decision(1, "c", action, by, None, reasons, "", {}, None, 1, AT - timedelta(hours=1))


def state(
    action: Action = Action.reject,
    by: str = "auto",
    reasons: tuple[Reason, ...] = (THREAT,),
    before: Decision | None = None,
    noticed: bool = False,
    ground: Ground = Ground.guidelines,
    legal_ground: str | None = None,
) -> Statement:
    made = statement_for(
        action=action,
        by=by,
        reasons=reasons,
        ground=ground,
        legal_ground=legal_ground,
        at=AT,
        previous=before,
        noticed=noticed,
        guidelines=GUIDELINES,
    )
    assert made is not None
    return made


def test_an_approval_has_no_statement() -> None:
    assert (
        statement_for(
            action=Action.approve,
            by="auto",
            reasons=(),
            ground=Ground.guidelines,
            legal_ground=None,
            at=AT,
            previous=None,
            noticed=False,
            guidelines=GUIDELINES,
        )
        is None
    )


def test_an_automatic_rejection() -> None:
    made = state()
    assert made.decision_visibility == ("DECISION_VISIBILITY_CONTENT_REMOVED",)
    assert made.decision_ground == "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    assert made.incompatible_content_ground == "No threats of violence (section 3)"
    assert made.category == "STATEMENT_CATEGORY_VIOLENCE"
    assert (made.automated_detection, made.automated_decision) == (
        True,
        "AUTOMATED_DECISION_FULLY",
    )
    assert made.source_type == "SOURCE_VOLUNTARY"
    assert made.appeal_until == AT + timedelta(days=200)
    assert "0.93" in made.decision_facts and "threat" in made.decision_facts


def test_an_automatic_hold_disables() -> None:
    made = state(Action.hold, reasons=(INSULTED,))
    assert made.decision_visibility == ("DECISION_VISIBILITY_CONTENT_DISABLED",)
    assert made.incompatible_content_ground == "community guidelines, section 2"
    assert made.category == "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH"


def test_automation_flags() -> None:
    held = previous(Action.hold, "auto", INSULTED)
    confirmed = state(by="moderator", reasons=(MODERATOR,), before=held)
    assert (confirmed.automated_detection, confirmed.automated_decision) == (
        True,
        "AUTOMATED_DECISION_PARTIALLY",
    )
    # What the moderator confirmed is cited, since they cited nothing themselves.
    assert confirmed.incompatible_content_ground == "community guidelines, section 2"
    approved = previous(Action.approve, "auto")
    overruled = state(by="moderator", reasons=(MODERATOR,), before=approved)
    assert (overruled.automated_detection, overruled.automated_decision) == (
        False,
        "AUTOMATED_DECISION_NOT_AUTOMATED",
    )
    assert overruled.incompatible_content_ground == "the community guidelines"
    # A hold put by a notice is not automated detection; nor is a moderator's earlier reject.
    noticed = state(
        by="moderator", reasons=(MODERATOR,), before=previous(Action.hold, "auto", NOTICE)
    )
    assert noticed.automated_decision == "AUTOMATED_DECISION_NOT_AUTOMATED"
    assert noticed.category == "STATEMENT_CATEGORY_SCAMS_AND_FRAUD"
    again = state(
        by="moderator", reasons=(MODERATOR,), before=previous(Action.reject, "moderator", MODERATOR)
    )
    assert again.automated_decision == "AUTOMATED_DECISION_NOT_AUTOMATED"
    held_by_notice = state(Action.hold, reasons=(NOTICE,), noticed=True)
    assert held_by_notice.automated_detection is False
    assert held_by_notice.source_type == "SOURCE_ARTICLE_16"


def test_illegal_content_and_facts_that_quote_nobody() -> None:
    made = state(
        by="moderator",
        reasons=(MODERATOR,),
        ground=Ground.illegal,
        legal_ground="Criminal Code, s. 185",
    )
    assert made.decision_ground == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert made.illegal_content_legal_ground == "Criminal Code, s. 185"
    assert made.incompatible_content_ground is None
    assert "idiot" not in made.decision_facts and "my own words" not in made.decision_facts


def test_round_trip_and_categories() -> None:
    made = state()
    assert Statement.from_dict(made.as_dict()) == made
    for category in ("threat", "insult", "identity_attack", "sexual_explicit", None):
        assert statement_category(category, "link") in STATEMENT_CATEGORIES
