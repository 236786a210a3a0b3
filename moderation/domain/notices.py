"""Notices of illegal or harmful content (EU Digital Services Act, Art. 16).

A website relays a reader's notice on a comment; the comment goes (back) to the review
queue with reason ``notice``, and the notice is decided when a moderator decides the
comment: a rejection is ``action_taken``, an approval ``no_action``.

The reporter's name and email are personal data: stored only for the website's own
follow-up with the reporter, never logged, never returned by the API, and erased (with
the notice's explanation) when the comment is deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from moderation.domain.models import Action

STATEMENT_CATEGORIES: tuple[str, ...] = (
    "STATEMENT_CATEGORY_ANIMAL_WELFARE",
    "STATEMENT_CATEGORY_CONSUMER_INFORMATION",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN",
    "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
    "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
    "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
    "STATEMENT_CATEGORY_NON_CONSENSUAL_BEHAVIOUR",
    "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE",
    "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
    "STATEMENT_CATEGORY_PORNOGRAPHY_OR_SEXUALIZED_CONTENT",
    "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
    "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
    "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
    "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE",
    "STATEMENT_CATEGORY_SELF_HARM",
    "STATEMENT_CATEGORY_UNSAFE_AND_ILLEGAL_PRODUCTS",
    "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
    "STATEMENT_CATEGORY_VIOLENCE",
)
"""The statement categories of the EU DSA Transparency Database (the ``category`` field of
a statement of reasons), the one list of them in this service.

Source: the Transparency Database's API documentation
(https://transparency.dsa.ec.europa.eu/page/api-documentation) and its explanation of the
statement attributes
(https://transparency.dsa.ec.europa.eu/page/additional-explanation-for-statement-attributes);
the first version's names are also in the Commission's code,
https://github.com/digital-services-act/transparency-database (``app/Models/Statement.php``).
The database's schema has had two versions: the second added consumer information, cyber
violence (also against women), ``NOT_SPECIFIED_NOTICE`` and ``OTHER_VIOLATION_TC``, renamed
``SCOPE_OF_PLATFORM_SERVICE`` to ``OTHER_VIOLATION_TC`` and ``UNSAFE_AND_ILLEGAL_PRODUCTS``
to ``UNSAFE_AND_PROHIBITED_PRODUCTS``, and dropped ``NON_CONSENSUAL_BEHAVIOUR`` and
``PORNOGRAPHY_OR_SEXUALIZED_CONTENT``. Both versions' names are accepted here, so that a
website built against either can relay its readers' notices.
"""

OTHER_VIOLATION = "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"
"""The category of a restriction no more specific category fits (the second schema's name)."""

CATEGORY_OF: Mapping[str, str] = {
    # The classifiers' score categories (Detoxify's names).
    "threat": "STATEMENT_CATEGORY_VIOLENCE",
    "severe_toxicity": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "toxicity": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "insult": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "identity_attack": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "obscene": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    # Sexual content breaks the guidelines of a news site's comments; the second schema has
    # no category of its own for adult content, so it is a violation of the terms.
    "sexual_explicit": OTHER_VIOLATION,
}
"""Our score categories -> the Transparency Database's statement categories."""

CODE_CATEGORY_OF: Mapping[str, str] = {
    "banned_term": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "suspect_term": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "reader_reports": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "link": OTHER_VIOLATION,
}
"""Reason codes without a score category -> statement categories; any other code (a
premoderated author or article, an unavailable classifier, ...) is :data:`OTHER_VIOLATION`."""


def statement_category(category: str | None, code: str | None = None) -> str:
    """The statement category of one of our score categories, else of a reason code."""
    if category is not None and category in CATEGORY_OF:
        return CATEGORY_OF[category]
    return CODE_CATEGORY_OF.get(code or "", OTHER_VIOLATION)


MAX_EXPLANATION_CHARS = 5_000
MAX_LEGAL_GROUND_CHARS = 1_000
MAX_REPORTER_NAME_CHARS = 200
MAX_EMAIL_CHARS = 254

NOTICE_CODE = "notice"
"""The reason code of the hold a notice puts on its comment."""

_NOTICE_MESSAGE = "a notice under the EU Digital Services Act (Art. 16): "


def notice_message(category: str) -> str:
    """The message of a ``notice`` reason: it names the category, never the explanation."""
    return _NOTICE_MESSAGE + category


def noticed_category(message: str) -> str | None:
    """The category a ``notice`` reason's message names (:func:`notice_message`)."""
    category = message.removeprefix(_NOTICE_MESSAGE)
    return category if category in STATEMENT_CATEGORIES else None


class NoticeStatus(StrEnum):
    received = "received"
    decided = "decided"


class NoticeOutcome(StrEnum):
    action_taken = "action_taken"
    no_action = "no_action"


OUTCOME_OF: Mapping[Action, NoticeOutcome] = {
    Action.reject: NoticeOutcome.action_taken,
    Action.approve: NoticeOutcome.no_action,
}
"""What a moderator's decision on the comment means for its open notices."""


@dataclass(frozen=True, slots=True)
class NewNotice:
    """A notice as the website relays it."""

    category: str
    explanation: str
    legal_ground: str | None = None
    reporter_name: str | None = None
    reporter_email: str | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    """A stored notice. ``comment_id`` is the stored id; ``scope`` the comment's website."""

    id: str
    comment_id: str
    scope: str | None
    category: str
    status: NoticeStatus
    received_at: datetime
    outcome: NoticeOutcome | None = None
    decided_at: datetime | None = None
