"""Coral's External Moderation Phase: Coral asks, the guidelines decide, Coral applies.

Coral (coralproject/talk) POSTs every new and edited comment to the phase's callback URL,
signed with the phase's signing secret (``X-Coral-Signature: sha256=<hex>[,…]``, the
HMAC-SHA256 of the raw body keyed with the secret as Coral shows it, ``empsec_…``), and
waits at most the phase's timeout (200 ms by default) for an answer in its own terms.
This module keeps that secret, checks signatures, turns Coral's comment into one of ours
and moderates it like a website's comment (``services/comments.Moderation.submit``),
and maps the decision to Coral's answer. ``docs/coral.md`` is the admin's guide.

**Held comments are decided in Coral.** A hold is answered ``SYSTEM_WITHHELD`` (Coral's
Pending queue) and recorded here as pending — author history, figures, backtests and
webhooks see it — but never enters this service's review queue
(``decisions.record(review_here=False)``): Coral's moderators decide it, and Coral does
not tell us what they decided.

**The deadline.** A comment not scored within ``MODERATION_CORAL_DEADLINE_MS`` of the
request's arrival (150 by default, under Coral's 200) is recorded as held with
``classifier_unavailable`` and answered ``SYSTEM_WITHHELD``: Coral never waits past its
timeout (which would publish the comment unmoderated) and an unscored comment is never
approved.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from moderation.domain.errors import Conflict, Unauthorized
from moderation.domain.models import Action, ApiKey, Comment, Reason, utcnow
from moderation.services.comments import Moderation, NewComment
from moderation.storage.database import Database

INTEGRATION = "coral"
"""The row of the ``integrations`` table that holds the phase's settings."""

PHASE_PATH = "/v1/integrations/coral/phase"
SIGNATURE_HEADER = "X-Coral-Signature"
MAX_SECRET_CHARS = 256
"""Coral's secrets are ``empsec_`` and 64-72 hex digits; this leaves room for others."""

MAX_SIGNATURES = 8
"""Coral sends one signature per active secret: two while a rotation's grace period lasts."""

OFF_LOOP_HTML_CHARS = 8_000
"""Longer HTML bodies are converted to text in a worker thread (CPU work on untrusted input)."""

OFF_LOOP_DIGEST_BYTES = 256 * 1024
"""Longer bodies are hashed in a worker thread (hashlib releases the GIL)."""

# -- Coral's answer: the mapping from our decisions, kept in one place (docs/coral.md) ------

APPROVED = "APPROVED"
WITHHELD = "SYSTEM_WITHHELD"
REJECTED = "REJECTED"
FLAG_TOXIC = "COMMENT_DETECTED_TOXIC"
FLAG_SPAM = "COMMENT_DETECTED_SPAM"

SPAM_LIKE_CODES = frozenset({"link", "suspect_term"})
"""Hold reasons flagged ``COMMENT_DETECTED_SPAM``; every other hold reason (thresholds,
examples, premoderation, an unavailable classifier …) is flagged ``COMMENT_DETECTED_TOXIC``,
the only other flag Coral accepts from a phase."""

REJECTION_BY_CATEGORY: Mapping[str, str] = {
    "threat": "ABUSIVE",
    "insult": "ABUSIVE",
    "severe_toxicity": "ABUSIVE",
    "identity_attack": "HATE_SPEECH",
    "obscene": "OFFENSIVE",
    "sexual_explicit": "OFFENSIVE",
    "toxicity": "OFFENSIVE",
}
"""A rejection by a rule (``threshold`` or ``example`` reason) -> Coral's
``REJECTION_REASON_CODE``, by the rule's category."""

REJECTION_BY_CODE: Mapping[str, str] = {
    "banned_term": "BANNED_WORD",
    "link": "SPAM",
}
"""A rejection by any other reason code -> Coral's code; unlisted codes (``author_banned`` …)
are ``OTHER``."""

REJECTION_PRECEDENCE: tuple[str, ...] = (
    "HATE_SPEECH",
    "ABUSIVE",
    "BANNED_WORD",
    "OFFENSIVE",
    "SPAM",
    "OTHER",
)
"""Coral takes one code per rejection: of the rejecting reasons' codes, the first here."""

CLOSED_EXPLANATION = "This article is closed for comments."


def rejection_code(reason: Reason) -> str:
    """Coral's ``REJECTION_REASON_CODE`` for one of our reasons."""
    if reason.code in ("threshold", "example") and reason.category is not None:
        by_category = REJECTION_BY_CATEGORY.get(reason.category)
        if by_category is not None:
            return by_category
    return REJECTION_BY_CODE.get(reason.code, "OTHER")


def flag_reasons(reasons: Iterable[Reason]) -> list[str]:
    """The flags that explain a hold to Coral's moderators: one per kind, never none."""
    spam = toxic = False
    for reason in reasons:
        if reason.action is not Action.hold:
            continue
        if reason.code in SPAM_LIKE_CODES:
            spam = True
        else:
            toxic = True
    flags = ([FLAG_TOXIC] if toxic else []) + ([FLAG_SPAM] if spam else [])
    return flags or [FLAG_TOXIC]


def rejection(code: str, explanation: str | None) -> dict[str, Any]:
    """Coral's answer for a rejection. Coral voids an answer with an empty string or a
    null anywhere, so optional fields are left out rather than sent empty."""
    reason: dict[str, Any] = {"code": code}
    if explanation:
        reason["detailedExplanation"] = explanation
    return {
        # Top-level status too: it sets the comment's status when Coral creates it (and is
        # what counts on an edit); moderationAction alone would publish it first.
        "status": REJECTED,
        "moderationAction": {"status": REJECTED, "rejectionReason": reason},
    }


def answer(comment: Comment) -> dict[str, Any]:
    """Coral's answer for a decided comment: only Coral's fields and values (Coral voids
    the whole answer for an unknown enum value, a null or an empty string)."""
    decision = comment.decision
    assert decision is not None
    if decision.action is Action.approve:
        return {"status": APPROVED}
    if decision.action is Action.hold:
        return {
            "status": WITHHELD,
            "actions": [
                {"actionType": "FLAG", "reason": flag} for flag in flag_reasons(decision.reasons)
            ],
        }
    codes = {rejection_code(r) for r in decision.reasons if r.action is Action.reject}
    code = next((c for c in REJECTION_PRECEDENCE if c in codes), "OTHER")
    return rejection(code, decision.message)


# -- HTML bodies ---------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    {
        "address", "article", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
        "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol",
        "p", "pre", "section", "table", "td", "th", "tr", "ul",
    }
)  # fmt: skip
_TAG_NAME = re.compile(r"/?\s*([A-Za-z][A-Za-z0-9]{0,15})")
_QUOTE = re.compile(r"[\"']")
_HREF = re.compile(r"""\shref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\f\v\xa0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def html_to_text(body: str) -> str:
    """The text a reader sees in Coral's HTML comment body, in one linear pass.

    Tags are dropped (block elements and ``<br>`` become line breaks), comments too;
    character references are decoded. A link's target is kept beside its text when the
    text does not show it, so a link hidden behind words still counts as a link. A ``<``
    that does not start a tag is text, and an unterminated tag or comment leaves the rest
    as text, as written: nothing is hidden from moderation. Plain text passes through
    unchanged, apart from whitespace and character references. (``html.parser`` is not
    used: on malformed input it is quadratic, or raises.)
    """
    out: list[str] = []
    position, size = 0, len(body)
    link: str | None = None
    link_start = 0
    while position < size:
        start = body.find("<", position)
        if start < 0:
            out.append(html.unescape(body[position:]))
            break
        out.append(html.unescape(body[position:start]))
        if body.startswith("<!--", start):
            end = body.find("-->", start + 4)
            if end < 0:
                out.append(body[start:])
                break
            position = end + 3
            continue
        following = body[start + 1 : start + 2]
        if not (following.isascii() and (following.isalpha() or following in "/!?")):
            out.append("<")  # "a < b": a bare angle bracket is text
            position = start + 1
            continue
        end = _tag_end(body, start + 1)
        if end < 0:
            out.append(body[start:])
            break
        tag = body[start + 1 : end]
        position = end + 1
        name_match = _TAG_NAME.match(tag)
        if name_match is None:
            continue  # <!DOCTYPE …>, <?…>
        name = name_match.group(1).lower()
        closing = tag.startswith("/")
        if name == "a" and not closing:
            href = _HREF.search(tag)
            link = next((g for g in href.groups() if g is not None), None) if href else None
            link = html.unescape(link).strip() if link else None
            link_start = len(out)
        elif name == "a" and link:
            shown = "".join(out[link_start:])
            if link not in shown:
                out.append(f" ({link})")
            link = None
        if name in _BLOCK_TAGS:
            out.append("\n")
    # Lines are stripped first, so blank lines are bare line breaks: one linear regex.
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(out).split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _tag_end(body: str, position: int) -> int:
    """The index of the ``>`` that ends the tag whose name starts at ``position`` (quoted
    attribute values may hold ``>``), or -1. Linear: every character is looked at a
    bounded number of times, whatever the input."""
    end = body.find(">", position)
    while end >= 0:
        quote = _QUOTE.search(body, position, end)
        if quote is None:
            return end
        close = body.find(quote.group(), quote.end())
        if close < 0:
            return -1
        position = close + 1
        if close > end:
            end = body.find(">", position)
    return -1


async def plain_text(body: str) -> str:
    """:func:`html_to_text`, in a worker thread when the body is long."""
    if len(body) > OFF_LOOP_HTML_CHARS:
        return await asyncio.to_thread(html_to_text, body)
    return html_to_text(body)


# -- signatures ----------------------------------------------------------------------------


def signatures(header: str | None) -> list[str]:
    """The ``sha256`` signatures in an ``X-Coral-Signature`` header (lowercase hex)."""
    found = []
    for part in (header or "").split(",")[:MAX_SIGNATURES]:
        scheme, _, value = part.strip().partition("=")
        if scheme == "sha256" and value:
            found.append(value.strip().lower())
    return found


def sign(secret: str, body: bytes) -> str:
    """What Coral sends for ``body`` signed with ``secret`` (without the ``sha256=``)."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """True when any signature in ``header`` is ``body``'s, keyed with ``secret``."""
    expected = sign(secret, body)
    # compare_digest on each candidate: no early exit leaks how much of one matched.
    matches = [
        hmac.compare_digest(expected.encode(), candidate.encode("ascii", "replace"))
        for candidate in signatures(header)
    ]
    return any(matches)


# -- the service -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Phase:
    """One request of Coral's phase (``ExternalModerationRequest``), validated at the edge."""

    action: str  # "NEW" | "EDIT"
    body: str
    parent_id: str | None
    author_id: str
    author_role: str | None
    story_id: str
    story_url: str | None
    site_id: str | None
    tenant_id: str | None
    tenant_domain: str | None

    def metadata(self) -> dict[str, Any]:
        """What the stored comment keeps of Coral's request besides its text."""
        coral = {
            "action": self.action,
            "author_role": self.author_role,
            "story_url": self.story_url,
            "site_id": self.site_id,
            "tenant_id": self.tenant_id,
            "tenant_domain": self.tenant_domain,
        }
        return {"source": "coral", "coral": {k: v for k, v in coral.items() if v is not None}}


@dataclass(frozen=True, slots=True)
class CoralSettings:
    """Whether a signing secret is stored, and who set it when (never the secret)."""

    configured: bool
    updated_by: str | None = None
    updated_at: datetime | None = None


@dataclass(slots=True)
class Coral:
    """The phase endpoint's service: its secret, signatures, and moderation on a deadline."""

    db: Database
    moderation: Moderation
    deadline_s: float

    async def settings(self) -> CoralSettings:
        async with self.db.transaction(write=False) as store:
            stored = await store.integration(INTEGRATION)
        return _settings(stored)

    async def set_secret(self, key: ApiKey, secret: str) -> CoralSettings:
        """Store the phase's signing secret; in force for the next request, in every process."""
        now = utcnow()
        stored = {"signing_secret": secret, "updated_by": key.name, "updated_at": now.isoformat()}
        async with self.db.transaction() as store:
            before = await store.integration(INTEGRATION)
            await store.put_integration(INTEGRATION, stored, key.name, now)
            await store.audit(
                key,
                "integration.coral",
                INTEGRATION,
                {"signing_secret": "replaced" if before else "set"},
                now,
                shared=True,
            )
        return _settings(stored)

    async def verify(self, body: bytes, header: str | None) -> None:
        """:class:`Unauthorized` unless ``header`` holds ``body``'s signature with the stored
        secret. Read per request, so a new secret is in force at once in every process."""
        if not signatures(header):
            raise Unauthorized(
                f"missing or malformed {SIGNATURE_HEADER} header", code="invalid_signature"
            )
        async with self.db.transaction(write=False) as store:
            stored = await store.integration(INTEGRATION)
        secret = (stored or {}).get("signing_secret")
        if not isinstance(secret, str) or not secret:
            raise Unauthorized(
                "no Coral signing secret is configured (PUT /v1/integrations/coral)",
                code="coral_not_configured",
            )
        if len(body) > OFF_LOOP_DIGEST_BYTES:
            valid = await asyncio.to_thread(verify_signature, secret, body, header)
        else:
            valid = verify_signature(secret, body, header)
        if not valid:
            raise Unauthorized(f"the {SIGNATURE_HEADER} does not match", code="invalid_signature")

    async def moderate(
        self, phase: Phase, *, started: float | None = None
    ) -> dict[str, Any] | None:
        """Moderate one NEW or EDIT and return Coral's answer; None when the comment has no
        text to moderate (Coral then continues as if the phase had not answered).

        ``started``: the event loop's time when the request arrived; the deadline counts
        from then (default: now)."""
        loop = asyncio.get_running_loop()
        started = loop.time() if started is None else started
        text = await plain_text(phase.body)
        if not text:
            return None
        new = NewComment(
            # Coral sends no comment id (and an edit is moderated on its own body): ours.
            id=f"coral-{uuid.uuid4().hex}",
            article_id=phase.story_id,
            author_id=phase.author_id,
            text=text,
            parent_id=phase.parent_id,
            metadata=phase.metadata(),
        )
        remaining = self.deadline_s - (loop.time() - started)
        try:
            submitted = await self.moderation.submit(
                new, deadline_s=max(0.0, remaining), review_here=False
            )
        except Conflict as error:
            if error.code != "article_closed":
                raise
            # Nothing is stored for a closed article, as for the website's comments.
            return rejection("OTHER", CLOSED_EXPLANATION)
        return answer(submitted.comment)


def _settings(stored: Mapping[str, Any] | None) -> CoralSettings:
    if not stored or not stored.get("signing_secret"):
        return CoralSettings(configured=False)
    at = stored.get("updated_at")
    return CoralSettings(
        configured=True,
        updated_by=stored.get("updated_by"),
        updated_at=datetime.fromisoformat(at) if isinstance(at, str) else None,
    )
