"""Coral's External Moderation Phase: ``POST /v1/integrations/coral/phase`` and its secret.

Requests are built as Coral builds them (``JSON.stringify(data, null, 2)``, signed with
HMAC-SHA256 keyed with the ``empsec_…`` secret as text), and every answer is checked
against the rules of Coral's Joi schema, which voids the whole answer for one unknown
value, a null or an empty string.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from aiohttp import web

from classifiers.base import CATEGORIES, Scores
from moderation.http.context import SCORER
from tests.conftest import Service, ServiceFactory

PHASE = "/v1/integrations/coral/phase"
ADMIN = "/v1/integrations/coral"

# -- Coral's response schema (server/.../pipeline/phases/external.ts), as a validator -------

COMMENT_STATUS = {"NONE", "APPROVED", "REJECTED", "PREMOD", "SYSTEM_WITHHELD"}
FLAG_REASONS = {"COMMENT_DETECTED_TOXIC", "COMMENT_DETECTED_SPAM"}
TAGS = {"FEATURED", "STAFF"}
REJECTION_CODES = {
    "OFFENSIVE",
    "ABUSIVE",
    "SPAM",
    "BANNED_WORD",
    "AD",
    "ILLEGAL_CONTENT",
    "HARASSMENT_BULLYING",
    "MISINFORMATION",
    "HATE_SPEECH",
    "IRRELEVANT_CONTENT",
    "OTHER",
}


def _string(value: Any, where: str, allowed: set[str] | None = None) -> None:
    # Joi.string(): no null, no empty string; .only().allow(...): one of these, case and all.
    assert isinstance(value, str), f"{where}: not a string: {value!r}"
    assert value != "", f"{where}: empty string"
    if allowed is not None:
        assert value in allowed, f"{where}: {value!r} not in {sorted(allowed)}"


def _keys(value: Any, where: str, allowed: set[str]) -> None:
    assert isinstance(value, dict), f"{where}: not an object: {value!r}"
    # Coral strips unknown keys silently; we send none, so any would be a mistake of ours.
    assert set(value) <= allowed, f"{where}: keys Coral does not know: {set(value) - allowed}"
    for key, item in value.items():
        assert item is not None, f"{where}.{key}: null voids the answer"


def validate_coral_answer(answer: Any) -> None:
    """Fails unless Coral's ``ExternalModerationResponseSchema`` accepts ``answer`` without
    stripping anything, and unless it is not empty (Coral skips ``{}`` as no answer)."""
    _keys(answer, "answer", {"moderationAction", "actions", "status", "tags"})
    assert answer, "an empty answer is no answer"
    if "status" in answer:
        _string(answer["status"], "status", COMMENT_STATUS)
    if "moderationAction" in answer:
        action = answer["moderationAction"]
        _keys(action, "moderationAction", {"status", "rejectionReason"})
        if "status" in action:
            _string(action["status"], "moderationAction.status", COMMENT_STATUS)
        if "rejectionReason" in action:
            reason = action["rejectionReason"]
            _keys(
                reason,
                "rejectionReason",
                {"code", "legalGrounds", "detailedExplanation", "customReason"},
            )
            if "code" in reason:
                _string(reason["code"], "rejectionReason.code", REJECTION_CODES)
            for name in ("legalGrounds", "detailedExplanation", "customReason"):
                if name in reason:
                    _string(reason[name], f"rejectionReason.{name}")
    if "actions" in answer:
        assert isinstance(answer["actions"], list), "actions: not an array"
        for index, item in enumerate(answer["actions"]):
            _keys(item, f"actions[{index}]", {"actionType", "reason"})
            assert {"actionType", "reason"} <= set(item), f"actions[{index}]: missing keys"
            _string(item["actionType"], f"actions[{index}].actionType", {"FLAG"})
            _string(item["reason"], f"actions[{index}].reason", FLAG_REASONS)
    if "tags" in answer:
        assert isinstance(answer["tags"], list)
        for tag in answer["tags"]:
            _string(tag, "tags[]", TAGS)


def test_the_validator_refuses_what_coral_refuses() -> None:
    validate_coral_answer({"status": "APPROVED"})
    bad: Any
    for bad in (
        {},
        {"status": "approved"},
        {"status": None},
        {"status": "APPROVED", "tags": [""]},
        {"status": "REJECTED", "moderationAction": None},
        {"actions": [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_LINKS"}]},
        {"actions": [{"actionType": "FLAG"}]},
        {"moderationAction": {"status": "REJECTED", "rejectionReason": {"code": "RUDE"}}},
        {"moderationAction": {"rejectionReason": {"code": "OTHER", "customReason": ""}}},
        {"status": "APPROVED", "metadata": {}},
        [],
    ):
        with pytest.raises(AssertionError):
            validate_coral_answer(bad)


# -- a classifier that says what the test wants, and guidelines that read it ----------------

WORDS: dict[str, tuple[str, float]] = {
    "kill": ("threat", 0.97),
    "idiot": ("insult", 0.95),
    "dimwit": ("insult", 0.7),
    "vermin": ("identity_attack", 0.96),
    "filth": ("obscene", 0.95),
    "nasty": ("toxicity", 0.95),
}


class Scripted:
    """Scores 0.01 everywhere, except the category of each word of :data:`WORDS` present."""

    name = "scripted"
    categories = CATEGORIES

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        results = []
        for text in texts:
            scores = dict.fromkeys(CATEGORIES, 0.01)
            for word, (category, score) in WORDS.items():
                if word in text.casefold():
                    scores[category] = max(scores[category], score)
            results.append(scores)
        return results


class Slow(Scripted):
    name = "slow"

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        time.sleep(0.4)
        return super().predict(texts)


GUIDELINES: dict[str, Any] = {
    "rules": [
        {
            "id": f"no-{category}",
            "category": category,
            "title": f"No {category.replace('_', ' ')}",
            "guideline": "1",
            "hold_at": 0.5,
            "reject_at": 0.9,
        }
        for category in CATEGORIES
    ],
    "banned_terms": ["grobnik"],
    "suspect_terms": ["plonker"],
    "hold_links": True,
    "unsupported_language": "approve",
}


async def coral_service(make_service: ServiceFactory, **overrides: Any) -> Service:
    overrides.setdefault("classifier_instance", Scripted())
    service = await make_service(**overrides)
    status, body = await service.call("PUT", "/v1/guidelines", role="admin", json=GUIDELINES)
    assert status == 200, body
    return service


# -- Coral's request, byte for byte ---------------------------------------------------------


def new_secret() -> str:
    """As Coral makes one: ``empsec_`` and the hex of 32-36 random bytes."""
    return "empsec_" + secrets.token_hex(32 + secrets.randbelow(5))


def coral_request(
    body: str,
    *,
    action: str = "NEW",
    author: str | None = None,
    story: str | None = None,
    parent: str | None = None,
) -> dict[str, Any]:
    story = story or str(uuid.uuid4())
    return {
        "action": action,
        "comment": {"body": body, "parentID": parent},
        "author": {"id": author or str(uuid.uuid4()), "role": "COMMENTER"},
        "story": {"id": story, "url": f"https://news.example/posts/{story}/"},
        "site": {"id": "site-1"},
        "tenantID": "tenant-1",
        "tenantDomain": "news.example",
    }


def serialise(data: Any) -> bytes:
    """``JSON.stringify(data, null, 2)``: two-space indent, non-ASCII as it is, UTF-8."""
    return json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8")


def signature_header(body: bytes, *secrets_in_order: str) -> str:
    """``X-Coral-Signature``: one ``sha256=<hex>`` per active secret, oldest first."""
    return ",".join(
        "sha256=" + hmac.new(s.encode("utf-8"), body, hashlib.sha256).hexdigest()
        for s in secrets_in_order
    )


async def send(service: Service, raw: bytes, signature: str | None) -> tuple[int, Any, float]:
    headers = {"Content-Type": "application/json", "User-Agent": "Coral Moderation/9.11.8"}
    if signature is not None:
        headers["X-Coral-Signature"] = signature
    started = time.perf_counter()
    async with service.client.post(PHASE, data=raw, headers=headers) as response:
        elapsed = time.perf_counter() - started
        text = await response.text()
        body = json.loads(text) if text else None
        return response.status, body, elapsed


async def phase(
    service: Service, secret: str, body: str, **fields: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Send one signed request; return Coral's answer and the comment stored for it."""
    request = coral_request(body, **fields)
    raw = serialise(request)
    status, answer, _ = await send(service, raw, signature_header(raw, secret))
    assert status == 200, answer
    validate_coral_answer(answer)
    stored = await stored_for(service, request["author"]["id"])
    assert len(stored) >= 1
    return answer, stored[0]


async def stored_for(service: Service, author_id: str) -> list[dict[str, Any]]:
    """The author's stored comments, newest first."""
    status, body = await service.call(
        "GET", f"/v1/comments?author_id={author_id}", role="moderator"
    )
    assert status == 200, body
    return list(body["items"])


async def configure(service: Service, secret: str) -> None:
    status, body = await service.call("PUT", ADMIN, role="admin", json={"signing_secret": secret})
    assert status == 200, body


# -- the admin's switch ---------------------------------------------------------------------


async def test_admins_store_the_secret_and_see_only_that_it_is_set(
    make_service: ServiceFactory,
) -> None:
    service = await coral_service(make_service)
    status, body = await service.call("GET", ADMIN, role="admin")
    assert (status, body["configured"], body["updated_by"]) == (200, False, None)

    secret = new_secret()
    status, body = await service.call("PUT", ADMIN, role="admin", json={"signing_secret": secret})
    assert status == 200, body
    assert body["configured"] is True
    assert body["updated_by"] == "test-admin"
    assert body["updated_at"].endswith("Z")
    assert body["phase_path"] == PHASE
    assert secret not in json.dumps(body)

    status, body = await service.call("GET", ADMIN, role="admin")
    assert (status, body["configured"], body["updated_by"]) == (200, True, "test-admin")
    assert secret not in json.dumps(body)

    status, audit = await service.call("GET", "/v1/audit?action=integration.coral", role="admin")
    assert status == 200
    assert [e["action"] for e in audit["items"]] == ["integration.coral"]
    assert audit["items"][0]["actor"] == "test-admin"
    assert secret not in json.dumps(audit)


@pytest.mark.parametrize("method", ["GET", "PUT"])
async def test_only_admins_touch_the_secret(make_service: ServiceFactory, method: str) -> None:
    service = await coral_service(make_service)
    body = {"signing_secret": new_secret()}
    for role in ("site", "moderator"):
        status, answer = await service.call(method, ADMIN, role=role, json=body)
        assert (status, answer["error"]["code"]) == (403, "role_too_low")
    async with service.client.request(method, ADMIN, json=body) as response:
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "missing_key"
    status, answer = await service.call("GET", ADMIN, role="admin")
    assert answer["configured"] is False


@pytest.mark.parametrize(
    "payload",
    [
        {"signing_secret": ""},
        {"signing_secret": "x" * 257},
        {"signing_secret": "empsec_ab cd"},
        {"signing_secret": " empsec_abcd"},
        {"signing_secret": "empsec_abcé"},
        {"signing_secret": "empsec_\tab"},
        {"signing_secret": 12345},
        {"signing_secret": None},
        {},
        {"signing_secret": "empsec_abcd", "extra": 1},
    ],
)
async def test_a_bad_secret_is_refused_and_changes_nothing(
    make_service: ServiceFactory, payload: dict[str, Any]
) -> None:
    service = await coral_service(make_service)
    status, body = await service.call("PUT", ADMIN, role="admin", json=payload)
    assert status == 422, body
    assert set(body) == {"error"} and body["error"]["code"] == "validation_failed"
    secret = payload.get("signing_secret")
    if isinstance(secret, str) and secret:
        assert secret not in json.dumps(body)
    status, body = await service.call("GET", ADMIN, role="admin")
    assert body["configured"] is False


# -- signatures -----------------------------------------------------------------------------


async def assert_refused(service: Service, raw: bytes, signature: str | None, code: str) -> None:
    status, body, _ = await send(service, raw, signature)
    assert status == 401, body
    assert set(body) == {"error"} and body["error"]["code"] == code


async def test_without_a_stored_secret_nothing_is_accepted_or_stored(
    make_service: ServiceFactory,
) -> None:
    service = await coral_service(make_service)
    request = coral_request("A calm remark about the budget.")
    raw = serialise(request)
    await assert_refused(service, raw, signature_header(raw, new_secret()), "coral_not_configured")
    assert await stored_for(service, request["author"]["id"]) == []


async def test_missing_wrong_or_reserialised_signatures_are_refused_and_store_nothing(
    make_service: ServiceFactory,
) -> None:
    service = await coral_service(make_service)
    secret = new_secret()
    await configure(service, secret)
    request = coral_request("A calm remark about the budget.")
    raw = serialise(request)
    author = request["author"]["id"]

    await assert_refused(service, raw, None, "invalid_signature")
    await assert_refused(service, raw, "", "invalid_signature")
    await assert_refused(service, raw, "sha1=" + "0" * 40, "invalid_signature")
    await assert_refused(service, raw, signature_header(raw, new_secret()), "invalid_signature")
    # The secret without its prefix, or hex-decoded, is not the key Coral uses.
    await assert_refused(
        service, raw, signature_header(raw, secret.removeprefix("empsec_")), "invalid_signature"
    )
    # A signature of the same JSON serialised differently: the raw bytes are what count.
    compact = json.dumps(request, separators=(",", ":")).encode()
    await assert_refused(service, raw, signature_header(compact, secret), "invalid_signature")
    # A body changed after signing.
    tampered = raw.replace(b"budget", b"BUDGET")
    await assert_refused(service, tampered, signature_header(raw, secret), "invalid_signature")
    # Not even a malformed body gets past the signature to be parsed.
    await assert_refused(service, b"{not json", signature_header(raw, secret), "invalid_signature")
    assert await stored_for(service, author) == []

    status, answer, _ = await send(service, raw, signature_header(raw, secret))
    assert (status, answer) == (200, {"status": "APPROVED"})
    assert len(await stored_for(service, author)) == 1


async def test_during_a_rotation_either_signature_suffices(make_service: ServiceFactory) -> None:
    service = await coral_service(make_service)
    old, new = new_secret(), new_secret()
    await configure(service, old)
    raw = serialise(coral_request("Thanks for the thorough reporting."))
    both = signature_header(raw, old, new)  # Coral: the old secret first, the new one last
    assert both.count("sha256=") == 2 and "," in both and " " not in both

    status, answer, _ = await send(service, raw, both)
    assert (status, answer) == (200, {"status": "APPROVED"})
    await configure(service, new)  # the admin stores the new secret during the grace period
    status, answer, _ = await send(service, raw, both)
    assert (status, answer) == (200, {"status": "APPROVED"})
    status, answer, _ = await send(service, raw, signature_header(raw, new))
    assert status == 200
    # The PUT is in force at once: the old secret alone no longer passes.
    await assert_refused(service, raw, signature_header(raw, old), "invalid_signature")


async def test_a_signed_but_invalid_body_is_422_and_stores_nothing(
    make_service: ServiceFactory,
) -> None:
    service = await coral_service(make_service)
    secret = new_secret()
    await configure(service, secret)
    author = str(uuid.uuid4())
    bad_requests: list[Any] = [
        coral_request("hello", author=author) | {"action": "DELETE"},
        {k: v for k, v in coral_request("hello", author=author).items() if k != "story"},
        coral_request("hello", author=author) | {"comment": {"body": None}},
        coral_request("hello", author=author) | {"author": {"id": ""}},
        [coral_request("hello", author=author)],
    ]
    for request in bad_requests:
        raw = serialise(request)
        status, body, _ = await send(service, raw, signature_header(raw, secret))
        assert status == 422, (request, body)
        assert body["error"]["code"] == "validation_failed"
    raw = b"{not json"
    status, body, _ = await send(service, raw, signature_header(raw, secret))
    assert (status, body["error"]["code"]) == (400, "malformed_json")
    assert await stored_for(service, author) == []


async def test_fields_coral_may_add_later_are_ignored(make_service: ServiceFactory) -> None:
    service = await coral_service(make_service)
    secret = new_secret()
    await configure(service, secret)
    request = coral_request("Good point about the schedule.")
    request["comment"]["revisionID"] = "r-1"
    request["future"] = {"anything": True}
    request["author"]["role"] = "SOME_NEW_ROLE"
    raw = serialise(request)
    status, answer, _ = await send(service, raw, signature_header(raw, secret))
    assert (status, answer) == (200, {"status": "APPROVED"})


# -- answers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("I will kill you if you write that again.", "ABUSIVE"),
        ("Only an idiot would believe this.", "ABUSIVE"),
        ("These people are vermin.", "HATE_SPEECH"),
        ("What a load of filth.", "OFFENSIVE"),
        ("What a nasty piece of work.", "OFFENSIVE"),
        ("You grobnik.", "BANNED_WORD"),
        ("You grobnik idiot.", "ABUSIVE"),
    ],
)
async def test_rejections_carry_a_dsa_reason_and_the_readers_message(
    make_service: ServiceFactory, body: str, code: str
) -> None:
    service = await coral_service(make_service)
    secret = new_secret()
    await configure(service, secret)
    answer, stored = await phase(service, secret, body)
    assert answer == {
        "status": "REJECTED",
        "moderationAction": {
            "status": "REJECTED",
            "rejectionReason": {
                "code": code,
                "detailedExplanation": stored["decision"]["message"],
            },
        },
    }
    assert stored["status"] == "rejected"
    assert answer["moderationAction"]["rejectionReason"]["detailedExplanation"].startswith(
        "Your comment was not published"
    )


@pytest.mark.parametrize(
    ("body", "flags", "codes"),
    [
        ("You dimwit.", ["COMMENT_DETECTED_TOXIC"], ["threshold"]),
        ("Read https://spam.example/offer now", ["COMMENT_DETECTED_SPAM"], ["link"]),
        ("What a plonker.", ["COMMENT_DETECTED_SPAM"], ["suspect_term"]),
        (
            "You dimwit, see https://spam.example/x",
            ["COMMENT_DETECTED_TOXIC", "COMMENT_DETECTED_SPAM"],
            ["link", "threshold"],
        ),
    ],
)
async def test_holds_are_withheld_in_coral_with_flags_and_never_queued_here(
    make_service: ServiceFactory, body: str, flags: list[str], codes: list[str]
) -> None:
    service = await coral_service(make_service)
    secret = new_secret()
    await configure(service, secret)
    answer, stored = await phase(service, secret, body)
    assert answer == {
        "status": "SYSTEM_WITHHELD",
        "actions": [{"actionType": "FLAG", "reason": flag} for flag in flags],
    }
    # Recorded: pending, with its reasons, in the author's history ...
    assert stored["status"] == "pending"
    assert sorted({r["code"] for r in stored["decision"]["reasons"]}) == codes
    assert stored["id"].startswith("coral-")
    status, author = await service.call(
        "GET", f"/v1/authors/{stored['author_id']}", role="moderator"
    )
    assert status == 200 and author["counts"]["pending"] == 1
    # ... but Coral's moderators decide it: it is not in this service's queue.
    status, queue = await service.call("GET", "/v1/queue", role="moderator")
    assert (status, queue["items"], queue["total"]) == (200, [], 0)
    status, claimed = await service.call(
        "POST", "/v1/queue/claim", role="moderator", json={"limit": 10}
    )
    assert (status, claimed["items"]) == (200, [])
    async with service.client.get("/metrics") as response:
        assert "moderation_queue_depth 0.0" in await response.text()
    # The same text from the website waits in the queue, as before.
    status, website = await service.post_comment(text=body)
    assert (status, website["status"]) == (201, "pending")
    status, queue = await service.call("GET", "/v1/queue", role="moderator")
    assert [item["id"] for item in queue["items"]] == [website["id"]]


async def test_the_stored_comment_keeps_coral_context(make_service: ServiceFactory) -> None:
    service = await coral_service(make_service)
    secret = new_secret()
    await configure(service, secret)
    story, author, parent = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    answer, stored = await phase(
        service, secret, "Thanks for the reply.", story=story, author=author, parent=parent
    )
    assert answer == {"status": "APPROVED"}
    assert stored["article_id"] == story
    assert stored["author_id"] == author
    assert stored["parent_id"] == parent
    assert stored["status"] == "approved"
    assert stored["metadata"] == {
        "source": "coral",
        "coral": {
            "action": "NEW",
            "author_role": "COMMENTER",
            "story_url": f"https://news.example/posts/{story}/",
            "site_id": "site-1",
            "tenant_id": "tenant-1",
            "tenant_domain": "news.example",
        },
    }


async def test_ids_that_are_not_the_apis_never_reach_another_website(
    make_service: ServiceFactory,
) -> None:
    """Coral's ids are stored as the API's ids: ``/`` separates a website's scope from
    its ids, so ``othersite/u-1`` taken as it is would be that website's author."""
    from moderation.domain.models import Role
    from moderation.http.context import DATABASE
    from moderation.http.routes.coral import as_api_id
    from moderation.services.keys import Keys

    service = await coral_service(make_service)
    secret = new_secret()
    await configure(service, secret)
    created = await Keys(service.client.app[DATABASE]).create(
        "other-mod", Role.moderator, scope="othersite"
    )
    other = {"Authorization": f"Bearer {created.secret}"}
    async with service.client.put(
        "/v1/authors/u-1", json={"status": "banned"}, headers=other
    ) as response:
        assert response.status == 200  # othersite's own author u-1, banned there
    foreign = "othersite/u-1"
    request = coral_request(
        "Thanks for the reply.", author=foreign, story="othersite/a 1", parent="x/y"
    )
    raw = serialise(request)
    status, answer, _ = await send(service, raw, signature_header(raw, secret))
    assert status == 200, answer
    assert answer == {"status": "APPROVED"}  # not othersite's banned author
    mapped = as_api_id(foreign)
    assert mapped.startswith("coral-") and "/" not in mapped
    assert mapped == as_api_id(foreign) != as_api_id("othersite/u-2")  # one author, one id
    (stored,) = await stored_for(service, mapped)
    assert stored["article_id"] == as_api_id("othersite/a 1")
    assert stored["parent_id"] == as_api_id("x/y")
    uuid_id = str(uuid.uuid4())
    assert as_api_id(uuid_id) == uuid_id  # Coral's own ids pass unchanged
    assert as_api_id(mapped) not in (mapped, foreign)  # no id poses as another's hash


async def test_each_new_and_edit_is_moderated_on_its_own_body(make_service: ServiceFactory) -> None:
    service = await coral_service(make_service)
    secret = new_secret()
    await configure(service, secret)
    author, story = str(uuid.uuid4()), str(uuid.uuid4())
    answer, first = await phase(service, secret, "Interesting take.", author=author, story=story)
    assert answer == {"status": "APPROVED"}
    answer, edited = await phase(
        service, secret, "Interesting take, idiot.", action="EDIT", author=author, story=story
    )
    assert answer["status"] == "REJECTED"
    assert edited["id"] != first["id"]
    assert edited["text"] == "Interesting take, idiot."
    assert edited["metadata"]["coral"]["action"] == "EDIT"
    answer, _ = await phase(
        service, secret, "Interesting take, indeed.", action="EDIT", author=author, story=story
    )
    assert answer == {"status": "APPROVED"}
    statuses = [c["status"] for c in await stored_for(service, author)]
    assert sorted(statuses) == ["approved", "approved", "rejected"]


async def test_html_bodies_are_moderated_as_the_reader_sees_them(
    make_service: ServiceFactory,
) -> None:
    service = await coral_service(make_service)
    secret = new_secret()
    await configure(service, secret)
    answer, stored = await phase(
        service, secret, "<p>You are an <b>id</b><i>iot</i> &amp; worse</p><p>Bye<br>now</p>"
    )
    assert answer["status"] == "REJECTED"
    assert stored["text"] == "You are an idiot & worse\n\nBye\nnow"

    # A link behind words is still a link.
    answer, stored = await phase(
        service, secret, 'Read <a href="https://spam.example/offer" target="_blank">this</a>'
    )
    assert answer["status"] == "SYSTEM_WITHHELD"
    assert answer["actions"] == [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_SPAM"}]
    assert "https://spam.example/offer" in stored["text"]

    # Plain text (the format the docs recommend) passes through; "<" alone is text.
    answer, stored = await phase(service, secret, "If a < b and b < c then a < c.")
    assert answer == {"status": "APPROVED"}
    assert stored["text"] == "If a < b and b < c then a < c."


async def test_malformed_html_is_converted_in_linear_time(make_service: ServiceFactory) -> None:
    service = await coral_service(make_service)
    secret = new_secret()
    await configure(service, secret)
    # Quadratic for html.parser on Python 3.11 (seconds at this size); linear here.
    started = time.perf_counter()
    answer, stored = await phase(service, secret, "<a" * 90_000)
    assert time.perf_counter() - started < 5
    assert answer["status"] in {"APPROVED", "SYSTEM_WITHHELD"}
    assert stored["text"].startswith("<a<a")


async def test_a_body_without_text_gets_no_answer_and_stores_nothing(
    make_service: ServiceFactory,
) -> None:
    service = await coral_service(make_service)
    secret = new_secret()
    await configure(service, secret)
    request = coral_request("<p> </p><br>")
    raw = serialise(request)
    status, answer, _ = await send(service, raw, signature_header(raw, secret))
    assert (status, answer) == (204, None)
    assert await stored_for(service, request["author"]["id"]) == []


async def test_a_closed_article_is_rejected_and_nothing_stored(
    make_service: ServiceFactory,
) -> None:
    service = await coral_service(make_service)
    secret = new_secret()
    await configure(service, secret)
    story = str(uuid.uuid4())
    status, _ = await service.call("PUT", f"/v1/articles/{story}", json={"mode": "closed"})
    assert status in {200, 201}
    request = coral_request("A calm remark.", story=story)
    raw = serialise(request)
    status, answer, _ = await send(service, raw, signature_header(raw, secret))
    assert status == 200
    validate_coral_answer(answer)
    assert answer["status"] == "REJECTED"
    assert answer["moderationAction"]["rejectionReason"]["code"] == "OTHER"
    assert await stored_for(service, request["author"]["id"]) == []


async def test_a_premoderated_article_withholds_in_coral(make_service: ServiceFactory) -> None:
    service = await coral_service(make_service)
    secret = new_secret()
    await configure(service, secret)
    story = str(uuid.uuid4())
    status, _ = await service.call("PUT", f"/v1/articles/{story}", json={"mode": "premoderate"})
    assert status in {200, 201}
    answer, stored = await phase(service, secret, "A calm remark.", story=story)
    assert answer == {
        "status": "SYSTEM_WITHHELD",
        "actions": [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"}],
    }
    assert [r["code"] for r in stored["decision"]["reasons"]] == ["article_premoderated"]
    status, queue = await service.call("GET", "/v1/queue", role="moderator")
    assert queue["total"] == 0


# -- the deadline ---------------------------------------------------------------------------


async def test_a_comment_not_scored_in_time_is_withheld_within_the_deadline(
    make_service: ServiceFactory,
) -> None:
    service = await coral_service(make_service, classifier_instance=Slow(), coral_deadline_ms=100)
    secret = new_secret()
    await configure(service, secret)
    request = coral_request("A perfectly calm remark.")
    raw = serialise(request)
    status, answer, elapsed = await send(service, raw, signature_header(raw, secret))
    assert status == 200, answer
    validate_coral_answer(answer)
    assert answer == {
        "status": "SYSTEM_WITHHELD",
        "actions": [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"}],
    }
    # Well inside Coral's 200 ms, though the model takes 400 ms.
    assert elapsed < 0.3, elapsed
    (stored,) = await stored_for(service, request["author"]["id"])
    assert stored["status"] == "pending"
    assert [r["code"] for r in stored["decision"]["reasons"]] == ["classifier_unavailable"]
    status, queue = await service.call("GET", "/v1/queue", role="moderator")
    assert queue["total"] == 0


async def test_texts_past_their_deadline_leave_the_models_queue(
    make_service: ServiceFactory,
) -> None:
    # 200 ms: well under Slow's 0.4 s batch, so the first text's batch outlasts every
    # deadline, and long enough that on a loaded machine each request still reaches the
    # model's queue before its deadline (one that arrives later never enters it at all,
    # and would be neither scored nor cancelled).
    service = await coral_service(
        make_service, classifier_instance=Slow(), coral_deadline_ms=200, batch_max_size=1
    )
    secret = new_secret()
    await configure(service, secret)
    raws = [serialise(coral_request(f"Calm remark number {i}.")) for i in range(4)]
    results = await asyncio.gather(
        *(send(service, raw, signature_header(raw, secret)) for raw in raws)
    )
    assert all(status == 200 for status, _, _ in results)
    assert all(answer["status"] == "SYSTEM_WITHHELD" for _, answer, _ in results)
    await asyncio.sleep(0.6)  # the one batch that started has finished
    stats = service.client.app[SCORER].stats
    assert stats.texts <= 2 and stats.cancelled >= 2, stats


async def test_website_comments_still_wait_for_their_scores(make_service: ServiceFactory) -> None:
    service = await coral_service(make_service, classifier_instance=Slow(), coral_deadline_ms=50)
    status, body = await service.post_comment(text="A perfectly calm remark.")
    assert (status, body["status"]) == (201, "approved")


# -- webhooks -------------------------------------------------------------------------------


async def test_coral_decisions_emit_the_services_webhooks(
    make_service: ServiceFactory, aiohttp_server: Any
) -> None:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(json.loads(await request.read()))
        return web.Response(text="ok")

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    server = await aiohttp_server(receiver)
    service = await coral_service(make_service, webhook_poll_s=0.05)
    status, _ = await service.call(
        "POST",
        "/v1/webhooks",
        role="admin",
        json={"url": str(server.make_url("/hook")), "events": ["comment.held"]},
    )
    assert status == 201
    secret = new_secret()
    await configure(service, secret)
    _, stored = await phase(service, secret, "You dimwit.")
    deadline = time.monotonic() + 10
    while not received:
        assert time.monotonic() < deadline, "no webhook"
        await asyncio.sleep(0.02)
    assert received[0]["type"] == "comment.held"
    assert received[0]["comment"]["id"] == stored["id"]
    assert received[0]["comment"]["metadata"]["source"] == "coral"
