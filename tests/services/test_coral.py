"""services/coral: the decision -> Coral answer mapping, HTML to text, signature headers."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from classifiers.base import CATEGORIES
from moderation.domain.models import Action, Comment, Decision, Reason, Status
from moderation.services.coral import (
    REJECTION_BY_CATEGORY,
    answer,
    flag_reasons,
    html_to_text,
    rejection_code,
    sign,
    signatures,
    verify_signature,
)
from tests.http.test_coral import validate_coral_answer

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def decided(action: Action, *reasons: Reason, message: str = "Your comment …") -> Comment:
    decision = Decision(
        id=1,
        comment_id="coral-1",
        action=action,
        by="auto",
        moderator=None,
        reasons=reasons,
        message=message,
        scores={},
        classifier="x",
        guidelines_version=1,
        at=NOW,
    )
    status = {
        Action.approve: Status.approved,
        Action.hold: Status.pending,
        Action.reject: Status.rejected,
    }[action]
    return Comment("coral-1", "s", "a", "t", status, NOW, NOW, decision=decision)


def threshold(category: str, action: Action = Action.reject) -> Reason:
    return Reason("threshold", action, "rule", rule=f"no-{category}", category=category)


@pytest.mark.parametrize(
    ("category", "code"),
    [
        ("threat", "ABUSIVE"),
        ("insult", "ABUSIVE"),
        ("severe_toxicity", "ABUSIVE"),
        ("identity_attack", "HATE_SPEECH"),
        ("obscene", "OFFENSIVE"),
        ("sexual_explicit", "OFFENSIVE"),
        ("toxicity", "OFFENSIVE"),
    ],
)
def test_every_category_has_a_rejection_code(category: str, code: str) -> None:
    assert rejection_code(threshold(category)) == code
    example = Reason("example", Action.reject, "resembles", rule="r", category=category)
    assert rejection_code(example) == code


def test_the_category_table_covers_the_contracts_categories() -> None:
    assert set(REJECTION_BY_CATEGORY) == set(CATEGORIES)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("banned_term", "BANNED_WORD"),
        ("link", "SPAM"),
        ("author_banned", "OTHER"),
        ("notice", "OTHER"),
        ("something_new", "OTHER"),
    ],
)
def test_other_reasons_map_to_coral_codes(code: str, expected: str) -> None:
    assert rejection_code(Reason(code, Action.reject, "m")) == expected


def test_one_code_per_rejection_the_most_specific_first() -> None:
    reasons = (
        Reason("author_banned", Action.reject, "banned"),
        Reason("banned_term", Action.reject, "term"),
        threshold("toxicity"),
        threshold("insult", Action.hold),  # holds do not choose a rejection's code
    )
    result = answer(decided(Action.reject, *reasons, message="Not published: rude."))
    validate_coral_answer(result)
    assert result == {
        "status": "REJECTED",
        "moderationAction": {
            "status": "REJECTED",
            "rejectionReason": {
                "code": "BANNED_WORD",
                "detailedExplanation": "Not published: rude.",
            },
        },
    }
    result = answer(decided(Action.reject, *reasons, threshold("identity_attack")))
    assert result["moderationAction"]["rejectionReason"]["code"] == "HATE_SPEECH"


def test_an_empty_message_is_left_out_not_sent_empty() -> None:
    result = answer(decided(Action.reject, threshold("threat"), message=""))
    validate_coral_answer(result)
    assert result["moderationAction"]["rejectionReason"] == {"code": "ABUSIVE"}


def test_approvals_and_holds() -> None:
    assert answer(decided(Action.approve)) == {"status": "APPROVED"}
    for reasons, flags in [
        ((), ["COMMENT_DETECTED_TOXIC"]),
        ((Reason("classifier_unavailable", Action.hold, "m"),), ["COMMENT_DETECTED_TOXIC"]),
        ((Reason("link", Action.hold, "m"),), ["COMMENT_DETECTED_SPAM"]),
        ((Reason("suspect_term", Action.hold, "m"),), ["COMMENT_DETECTED_SPAM"]),
        (
            (Reason("link", Action.hold, "m"), threshold("insult", Action.hold)),
            ["COMMENT_DETECTED_TOXIC", "COMMENT_DETECTED_SPAM"],
        ),
    ]:
        result = answer(decided(Action.hold, *reasons))
        validate_coral_answer(result)
        assert result["status"] == "SYSTEM_WITHHELD"
        assert [a["reason"] for a in result["actions"]] == flags
        assert flag_reasons(reasons) == flags


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Hello <b>world</b> &amp; friends</p><p>Again</p>", "Hello world & friends\n\nAgain"),
        ("one<br>two<br/>three", "one\ntwo\nthree"),
        ("<blockquote>quoted</blockquote>reply", "quoted\nreply"),
        ('<a href="https://x.example/a">https://x.example/a</a>', "https://x.example/a"),
        ('<a href="https://x.example/a">here</a>!', "here (https://x.example/a)!"),
        ("<a href='https://x.example/&amp;b'>x</a>", "x (https://x.example/&b)"),
        ('<span title="a > b">t</span>', "t"),
        ("<!-- note -->seen", "seen"),
        ("a < b, b > c", "a < b, b > c"),
        ("&lt;b&gt; is not bold", "<b> is not bold"),
        ("unterminated <a href='x", "unterminated <a href='x"),
        ("unterminated <!-- comment", "unterminated <!-- comment"),
        ("plain\n\n\n\ntext  with   spaces", "plain\n\ntext with spaces"),
        ("", ""),
        ("<p> </p>", ""),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


@pytest.mark.parametrize(
    "unit", ["<a", "<", "<!--", "<a href='", '<a "x" ', "<p>", "&#", "<b>x", "\n\n\n"]
)
def test_html_to_text_is_linear_on_hostile_input(unit: str) -> None:
    def cost(size: int) -> float:
        text = unit * (size // len(unit)) + ">"
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            html_to_text(text)
            best = min(best, time.perf_counter() - started)
        return best

    small, large = cost(25_000), cost(200_000)
    # Eight times the input: about eight times the time when linear, 64 when quadratic.
    assert large < 25 * max(small, 1e-4), (unit, small, large)


def test_signature_headers() -> None:
    assert signatures("sha256=ab,sha256=CD") == ["ab", "cd"]
    assert signatures(" sha256=ab , sha1=ff,sha256=") == ["ab"]
    assert signatures(None) == []
    assert len(signatures(",".join(["sha256=ab"] * 100))) == 8
    body = b'{\n  "action": "NEW"\n}'
    good = sign("empsec_k", body)
    assert verify_signature("empsec_k", body, f"sha256={'0' * 64},sha256={good}")
    assert not verify_signature("empsec_k", body, f"sha256={sign('empsec_j', body)}")
    assert not verify_signature("empsec_k", body + b" ", f"sha256={good}")
