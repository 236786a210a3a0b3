"""Statements of reasons (EU Digital Services Act, Art. 17).

Every decision that restricts a comment — a rejection removes it, a hold disables it
while it waits for a moderator — carries a statement of reasons, with the field names of
the EU DSA Transparency Database (https://transparency.dsa.ec.europa.eu/page/api-documentation).
:func:`statement_for` computes it, once, when the decision is taken, from the decision,
the decision before it, whether the comment had a notice, and the guidelines in force;
it is stored with the decision, so that it says what was true when it was issued.

Automation (Art. 17(3)(c)):

* ``automated_decision`` is ``AUTOMATED_DECISION_FULLY`` for an automatic decision,
  ``AUTOMATED_DECISION_PARTIALLY`` when a moderator confirms an automatic restriction that
  automated detection proposed (the decision before it was an automatic hold or rejection
  on the text's scores, terms, links or examples), ``AUTOMATED_DECISION_NOT_AUTOMATED``
  otherwise (a moderator rejecting an approved comment, or one held only by a notice,
  reader reports or premoderation).
* ``automated_detection`` is true when automation flagged the comment: a reason of the
  automatic decision (or of the automatic decision the moderator confirmed) other than
  those in :data:`NOT_DETECTED`.

``decision_facts`` describes what was found in plain words, from the reasons' codes,
categories and scores: it never quotes the comment (nor a matched term, nor the nearest
example, nor a moderator's free-text reason).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from moderation.domain.guidelines import Guidelines
from moderation.domain.models import Action, Decision, Ground, Reason
from moderation.domain.notices import NOTICE_CODE, noticed_category, statement_category

VISIBILITY_REMOVED = "DECISION_VISIBILITY_CONTENT_REMOVED"
VISIBILITY_DISABLED = "DECISION_VISIBILITY_CONTENT_DISABLED"
GROUND_ILLEGAL = "DECISION_GROUND_ILLEGAL_CONTENT"
GROUND_INCOMPATIBLE = "DECISION_GROUND_INCOMPATIBLE_CONTENT"
AUTOMATED_FULLY = "AUTOMATED_DECISION_FULLY"
AUTOMATED_PARTIALLY = "AUTOMATED_DECISION_PARTIALLY"
NOT_AUTOMATED = "AUTOMATED_DECISION_NOT_AUTOMATED"
SOURCE_ARTICLE_16 = "SOURCE_ARTICLE_16"
SOURCE_VOLUNTARY = "SOURCE_VOLUNTARY"
CONTENT_TYPE_TEXT = "CONTENT_TYPE_TEXT"

AUTOMATED_DECISIONS: tuple[str, ...] = (AUTOMATED_FULLY, AUTOMATED_PARTIALLY, NOT_AUTOMATED)
GROUNDS: Mapping[Ground, str] = {
    Ground.guidelines: GROUND_INCOMPATIBLE,
    Ground.illegal: GROUND_ILLEGAL,
}

NOT_DETECTED: frozenset[str] = frozenset(
    {
        NOTICE_CODE,
        "reader_reports",
        "moderator",
        "author_banned",
        "author_premoderated",
        "article_premoderated",
    }
)
"""Reason codes that are not automated detection: people flagged the comment (a notice,
reader reports, a moderator), or a standing rule about its author or article held it."""

REDRESS = (
    "The author may appeal this decision, free of charge, through the website where the"
    " comment was posted, which relays the appeal to the moderation service"
    " (POST /v1/comments/{{id}}/appeals), until {until}. A moderator who did not take the"
    " decision reviews the appeal."
)

_FACTS: Mapping[str, str] = {
    "banned_term": "it contains a term the community guidelines ban",
    "suspect_term": "it contains a term the community guidelines list for review",
    "link": "it contains a link, which the community guidelines send for review",
    "classifier_unavailable": "the automated classifier could not score it in time",
    "unsupported_language": "it is in a language the automated classifier cannot read",
    "author_banned": "its author is banned from commenting",
    "author_premoderated": "its author's comments are reviewed before publication",
    "article_premoderated": "comments on its article are reviewed before publication",
    "reader_reports": "several readers reported it",
    NOTICE_CODE: "a notice under the EU Digital Services Act (Art. 16) reported it",
}


@dataclass(frozen=True, slots=True)
class Statement:
    """A statement of reasons, as the Transparency Database names its fields."""

    decision_visibility: tuple[str, ...]
    decision_ground: str
    illegal_content_legal_ground: str | None
    incompatible_content_ground: str | None
    decision_facts: str
    automated_detection: bool
    automated_decision: str
    source_type: str
    category: str
    appeal_until: datetime

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (stored with the decision, and in the API)."""
        return {
            "decision_visibility": list(self.decision_visibility),
            "decision_ground": self.decision_ground,
            "illegal_content_legal_ground": self.illegal_content_legal_ground,
            "incompatible_content_ground": self.incompatible_content_ground,
            "decision_facts": self.decision_facts,
            "content_type": [CONTENT_TYPE_TEXT],
            "automated_detection": self.automated_detection,
            "automated_decision": self.automated_decision,
            "source_type": self.source_type,
            "category": self.category,
            "redress": {
                "how": REDRESS.format(until=_timestamp(self.appeal_until)),
                "until": _timestamp(self.appeal_until),
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Statement:
        return cls(
            decision_visibility=tuple(data["decision_visibility"]),
            decision_ground=data["decision_ground"],
            illegal_content_legal_ground=data.get("illegal_content_legal_ground"),
            incompatible_content_ground=data.get("incompatible_content_ground"),
            decision_facts=data["decision_facts"],
            automated_detection=bool(data["automated_detection"]),
            automated_decision=data["automated_decision"],
            source_type=data["source_type"],
            category=data["category"],
            appeal_until=datetime.fromisoformat(data["redress"]["until"]),
        )


def _timestamp(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def restricts(action: Action) -> bool:
    return action is not Action.approve


def detected(reasons: Sequence[Reason]) -> bool:
    """Whether automation flagged the comment, among ``reasons``."""
    return any(reason.code not in NOT_DETECTED for reason in reasons)


def statement_for(
    *,
    action: Action,
    by: str,
    reasons: Sequence[Reason],
    ground: Ground,
    legal_ground: str | None,
    at: datetime,
    previous: Decision | None,
    noticed: bool,
    guidelines: Guidelines,
) -> Statement | None:
    """The statement of reasons of a decision (None for an approval, which restricts
    nothing). ``previous`` is the comment's decision before this one; ``noticed`` whether
    a notice (Art. 16) was received on the comment before this decision."""
    if not restricts(action):
        return None
    reviewed = (
        previous if by != "auto" and previous is not None and restricts(previous.action) else None
    )
    reviewed = reviewed if reviewed is None or reviewed.by == "auto" else None
    if by == "auto":
        detection, automated = detected(reasons), AUTOMATED_FULLY
    else:
        detection = reviewed is not None and detected(reviewed.reasons)
        automated = AUTOMATED_PARTIALLY if detection else NOT_AUTOMATED
    basis = (*reasons, *(reviewed.reasons if reviewed is not None else ()))
    # A moderator who cites a rule (or section) cites that; else what they confirmed.
    cites = reasons if any(r.rule or r.guideline for r in reasons) else basis
    return Statement(
        decision_visibility=(
            VISIBILITY_REMOVED if action is Action.reject else VISIBILITY_DISABLED,
        ),
        decision_ground=GROUNDS[ground],
        illegal_content_legal_ground=legal_ground if ground is Ground.illegal else None,
        incompatible_content_ground=_cited(cites, guidelines)
        if ground is Ground.guidelines
        else None,
        decision_facts=_facts(action, by, reasons, reviewed, ground, legal_ground, guidelines),
        automated_detection=detection,
        automated_decision=automated,
        source_type=SOURCE_ARTICLE_16 if noticed else SOURCE_VOLUNTARY,
        category=_category(basis),
        appeal_until=at + timedelta(days=guidelines.appeal_days),
    )


def _rule_title(rule_id: str, guidelines: Guidelines) -> str:
    rule = next((r for r in guidelines.rules if r.id == rule_id), None)
    return rule.title if rule is not None else rule_id


def _cited(reasons: Sequence[Reason], guidelines: Guidelines) -> str:
    """The guidelines the reasons cite: each rule's title and section, or a section."""
    cited: list[str] = []
    for reason in reasons:
        if reason.rule is not None:
            title = _rule_title(reason.rule, guidelines)
            text = f"{title} (section {reason.guideline})" if reason.guideline else title
        elif reason.guideline is not None:
            text = f"community guidelines, section {reason.guideline}"
        else:
            continue
        if text not in cited:
            cited.append(text)
    return "; ".join(cited) if cited else "the community guidelines"


def _category(reasons: Sequence[Reason]) -> str:
    """The statement category: a moderator's cited rule, else a notice's category, else
    the category that scored highest, else the first reason's code."""
    for reason in reasons:
        if reason.code == "moderator" and reason.category is not None:
            return statement_category(reason.category)
    for reason in reasons:
        if reason.code == NOTICE_CODE:
            category = noticed_category(reason.message)
            if category is not None:
                return category
    scored = [r for r in reasons if r.category is not None and r.code != "moderator"]
    if scored:
        best = max(scored, key=lambda r: r.score if r.score is not None else 0.0)
        return statement_category(best.category, best.code)
    codes = [r.code for r in reasons if r.code != "moderator"]
    return statement_category(None, codes[0] if codes else None)


def _fact(reason: Reason, guidelines: Guidelines) -> str:
    if reason.code == "threshold" and reason.score is not None and reason.threshold is not None:
        category = (reason.category or "a category").replace("_", " ")
        return (
            f"the automated classifier scored it {reason.score:.2f} for {category},"
            f" at or above the threshold of {reason.threshold:.2f}"
        )
    if reason.code == "example" and reason.rule is not None:
        return (
            "it resembles comments that break the rule"
            f" '{_rule_title(reason.rule, guidelines)}' more than comments that do not"
        )
    return _FACTS.get(reason.code, f"reason '{reason.code}' of the community guidelines")


def _found(reasons: Sequence[Reason], guidelines: Guidelines) -> str:
    facts: list[str] = []
    for reason in reasons:
        fact = _fact(reason, guidelines)
        if fact not in facts:
            facts.append(fact)
    return "; ".join(facts)


def _facts(
    action: Action,
    by: str,
    reasons: Sequence[Reason],
    reviewed: Decision | None,
    ground: Ground,
    legal_ground: str | None,
    guidelines: Guidelines,
) -> str:
    if by == "auto":
        measure = (
            "The comment was removed automatically"
            if action is Action.reject
            else "The comment is withheld from publication until a moderator reviews it"
        )
        found = _found(reasons, guidelines)
        return f"{measure}: {found}." if found else f"{measure}."
    if ground is Ground.illegal:
        finding = f"found that it is illegal content under {legal_ground}"
    else:
        finding = f"found that it breaks {_cited(reasons, guidelines)}"
    text = f"A moderator reviewed the comment, {finding}, and removed it"
    if reviewed is not None:
        text += f", after it was held because {_found(reviewed.reasons, guidelines)}"
    return text + "."
