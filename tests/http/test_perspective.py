"""The Perspective-compatible endpoint, driven with Perspective's documented bodies.

Request and response examples are quoted from Perspective's public documentation:

- [REF] https://github.com/conversationai/perspectiveapi/blob/master/api_reference.md
  ("AnalyzeComment example" and the request/response field tables);
- [QUICKSTART] https://github.com/conversationai/perspectiveapi/blob/master/quickstart.md
  (step 5, the curl request);
- [SPAN] the ``SpanScore`` schema of the commentanalyzer v1alpha1 discovery document, e.g.
  https://docs.rs/google-commentanalyzer1_alpha1/latest/google_commentanalyzer1_alpha1/api/struct.SpanScore.html
  ("The values are the UTF-16 codepoint range. 'end' is exclusive.");
- [CORAL] what Coral Talk sends: ``formatBody`` in coralproject/talk
  server/src/core/server/services/perspective/perspective.ts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any, ClassVar

import pytest
from sqlalchemy import func, select

from classifiers.base import Scores
from moderation.http.context import DATABASE, SCORER
from moderation.storage.tables import AuditRow, CommentRow, DecisionRow, PerspectiveFeedbackRow
from tests.conftest import Service, ServiceFactory

PATH = "/v1alpha1/comments:analyze"

# [REF] "AnalyzeComment example": a request for the TOXICITY and UNSUBSTANTIAL models.
DOCUMENTED_REQUEST: dict[str, Any] = {
    "comment": {"text": "What kind of idiot name is foo? Sorry, I like your name."},
    "languages": ["en"],
    "requestedAttributes": {"TOXICITY": {}, "UNSUBSTANTIAL": {}},
}

# [REF] the documented response to DOCUMENTED_REQUEST. (Its text says the second span is
# [32, 56), the JSON says 55; the comment is 56 characters long.)
DOCUMENTED_RESPONSE: dict[str, Any] = {
    "attributeScores": {
        "TOXICITY": {"summaryScore": {"value": 0.8627961, "type": "PROBABILITY"}},
        "UNSUBSTANTIAL": {
            "spanScores": [
                {"begin": 0, "end": 31, "score": {"value": 0.52690625, "type": "PROBABILITY"}},
                {"begin": 32, "end": 55, "score": {"value": 0.9106685, "type": "PROBABILITY"}},
            ],
            "summaryScore": {"value": 0.69036055, "type": "PROBABILITY"},
        },
    },
    "languages": ["en"],
}

# [QUICKSTART] step 5: the curl request body.
QUICKSTART_REQUEST: dict[str, Any] = {
    "comment": {"text": "what kind of idiot name is foo?"},
    "languages": ["en"],
    "requestedAttributes": {"TOXICITY": {}},
}

# [QUICKSTART] step 5: the documented response (trimmed there to these fields).
QUICKSTART_RESPONSE: dict[str, Any] = {
    "attributeScores": {
        "TOXICITY": {"summaryScore": {"value": 0.9014498, "type": "PROBABILITY"}},
    },
    "languages": ["en"],
}

# [CORAL] formatBody for "comments:analyze": what Coral POSTs to <endpoint>/comments:analyze?key=
CORAL_REQUEST: dict[str, Any] = {
    "comment": {"text": "You are an idiot and everyone knows it."},
    "doNotStore": True,
    "requestedAttributes": {"TOXICITY": {}},
    "languages": ["en"],
}

SEVEN = {
    "TOXICITY": "toxicity",
    "SEVERE_TOXICITY": "severe_toxicity",
    "IDENTITY_ATTACK": "identity_attack",
    "INSULT": "insult",
    "PROFANITY": "obscene",
    "THREAT": "threat",
    "SEXUALLY_EXPLICIT": "sexual_explicit",
}


class AllSeven:
    """Reports every category; a distinct value per category, high when 'idiot' is present."""

    name = "fake:all-seven"
    categories = tuple(SEVEN.values())
    HIGH: ClassVar[dict[str, float]] = {
        "toxicity": 0.9,
        "severe_toxicity": 0.4,
        "identity_attack": 0.05,
        "insult": 0.8,
        "obscene": 0.3,
        "threat": 0.02,
        "sexual_explicit": 0.01,
    }

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        self.calls.append(list(texts))
        return [
            {c: v if "idiot" in t.lower() else v / 10 for c, v in self.HIGH.items()} for t in texts
        ]


class Broken:
    name = "broken"
    categories = ("toxicity",)

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        raise RuntimeError("weights corrupted")


async def analyze(
    service: Service,
    body: Any = None,
    *,
    key: str | None = "site",
    path: str = PATH,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
) -> tuple[int, Any, dict[str, str]]:
    """POST like a Perspective client: the key (a role name here) in ``?key=``."""
    params = {"key": service.keys.get(key, key)} if key is not None else {}
    kwargs: dict[str, Any] = {"data": data} if data is not None else {"json": body}
    async with service.client.post(path, params=params, headers=headers or {}, **kwargs) as r:
        return r.status, await r.json(), dict(r.headers)


def shape(value: Any) -> Any:
    """The structure of a JSON value with leaves replaced by their types."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return "number" if isinstance(value, int | float) else type(value).__name__


def assert_google_error(
    status: int, body: Any, code: int, google_status: str, error_type: str | None = None
) -> str:
    """Google's error body; a request error names its ``errorType`` in ``details`` (and
    every 400, 403 and 429 has details: PyPerspective reads ``details[0]`` of any error)."""
    assert status == code, body
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) <= {"code", "message", "status", "details"}
    assert error["code"] == code and error["status"] == google_status
    assert isinstance(error["message"], str) and error["message"]
    if code in (400, 403, 429):
        assert error["details"] and all("@type" in detail for detail in error["details"])
    if error_type is not None:
        (detail,) = error["details"]
        assert detail["@type"] == "type.googleapis.com/google.commentanalyzer.v1alpha1.Error"
        assert detail["errorType"] == error_type
    return str(error["message"])


def whole_span(text: str, value: float) -> dict[str, Any]:
    """The one span Google answers per attribute when no spanAnnotations are asked for."""
    return {
        "begin": 0,
        "end": len(text.encode("utf-16-le")) // 2,
        "score": {"value": value, "type": "PROBABILITY"},
    }


async def count_rows(service: Service) -> dict[str, int]:
    counts = {}
    async with service.client.app[DATABASE].engine.connect() as conn:
        for row in (CommentRow, DecisionRow, AuditRow):
            counts[row.__tablename__] = (
                await conn.execute(select(func.count()).select_from(row))
            ).scalar_one()
    return counts


async def test_quickstart_single_attribute(service: Service) -> None:
    status, body, _ = await analyze(service, QUICKSTART_REQUEST)
    assert status == 200, body
    assert body["attributeScores"]["TOXICITY"]["spanScores"] == [
        whole_span(
            QUICKSTART_REQUEST["comment"]["text"],
            body["attributeScores"]["TOXICITY"]["summaryScore"]["value"],
        )
    ]
    del body["attributeScores"]["TOXICITY"]["spanScores"]
    assert shape(body) == shape(QUICKSTART_RESPONSE | {"detectedLanguages": ["en"]})
    summary = body["attributeScores"]["TOXICITY"]["summaryScore"]
    assert summary["type"] == "PROBABILITY"
    # the classifier's own probability, unmodified
    expected = await service.client.app[SCORER].score([QUICKSTART_REQUEST["comment"]["text"]])
    assert expected[0] is not None
    assert summary["value"] == expected[0]["toxicity"]
    assert body["languages"] == ["en"]
    assert "clientToken" not in body


async def test_documented_example_with_our_attributes_and_spans(
    make_service: ServiceFactory,
) -> None:
    fake = AllSeven()
    service = await make_service(classifier_instance=fake)
    request = DOCUMENTED_REQUEST | {
        "requestedAttributes": {"TOXICITY": {}, "INSULT": {}},
        "spanAnnotations": True,
    }
    status, body, _ = await analyze(service, request)
    assert status == 200, body
    documented = DOCUMENTED_RESPONSE["attributeScores"]["UNSUBSTANTIAL"]
    for name in ("TOXICITY", "INSULT"):
        assert shape(body["attributeScores"][name]) == shape(documented)
    toxicity = body["attributeScores"]["TOXICITY"]
    assert toxicity["summaryScore"] == {"value": 0.9, "type": "PROBABILITY"}
    spans = toxicity["spanScores"]
    # the spans the documentation describes: [0, 31) and [32, 56)
    assert [(s["begin"], s["end"]) for s in spans] == [(0, 31), (32, 56)]
    text = request["comment"]["text"]
    assert [text[s["begin"] : s["end"]] for s in spans] == [
        "What kind of idiot name is foo?",
        "Sorry, I like your name.",
    ]
    assert [s["score"]["value"] for s in spans] == [0.9, pytest.approx(0.09)]
    # the whole text and each sentence in one batch call to the classifier
    assert fake.calls == [[text, "What kind of idiot name is foo?", "Sorry, I like your name."]]


async def test_several_attributes_map_to_our_categories(make_service: ServiceFactory) -> None:
    service = await make_service(classifier_instance=AllSeven())
    request = {
        "comment": {"text": "you idiot", "type": "PLAIN_TEXT"},
        "requestedAttributes": {name: {} for name in SEVEN},
        "clientToken": "comment:c-42",
    }
    status, body, _ = await analyze(service, request)
    assert status == 200, body
    assert set(body["attributeScores"]) == set(SEVEN)
    for name, category in SEVEN.items():
        entry = body["attributeScores"][name]
        value = AllSeven.HIGH[category]
        assert entry == {
            "summaryScore": {"value": value, "type": "PROBABILITY"},
            "spanScores": [whole_span("you idiot", value)],
        }
    assert body["attributeScores"]["PROFANITY"]["summaryScore"]["value"] == 0.3  # obscene
    assert body["clientToken"] == "comment:c-42"
    assert body["languages"] == ["en"]


async def test_score_threshold_omits_low_scores(make_service: ServiceFactory) -> None:
    service = await make_service(classifier_instance=AllSeven())
    request = {
        "comment": {"text": DOCUMENTED_REQUEST["comment"]["text"]},
        "requestedAttributes": {
            "TOXICITY": {"scoreType": "PROBABILITY", "scoreThreshold": 0.5},
            "THREAT": {"scoreType": "PROBABILITY", "scoreThreshold": 0.5},
            "INSULT": {"scoreThreshold": 0.8},
        },
        "spanAnnotations": True,
    }
    status, body, _ = await analyze(service, request)
    assert status == 200, body
    assert set(body["attributeScores"]) == {"TOXICITY", "INSULT"}  # THREAT 0.02 < 0.5
    # span scores below the threshold are left out as well
    spans = body["attributeScores"]["TOXICITY"]["spanScores"]
    assert [(s["begin"], s["end"], s["score"]["value"]) for s in spans] == [(0, 31, 0.9)]
    assert body["attributeScores"]["INSULT"]["summaryScore"]["value"] == 0.8  # at = kept


async def test_span_offsets_are_utf16_code_units(make_service: ServiceFactory) -> None:
    service = await make_service(classifier_instance=AllSeven())
    text = "I 😀 you.  You idiot!\nBye"
    request = {"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}}}
    status, body, _ = await analyze(service, request | {"spanAnnotations": True})
    assert status == 200, body
    spans = body["attributeScores"]["TOXICITY"]["spanScores"]
    units = text.encode("utf-16-le")
    pieces = [units[2 * s["begin"] : 2 * s["end"]].decode("utf-16-le") for s in spans]
    assert pieces == ["I 😀 you.", "You idiot!", "Bye"]
    assert [(s["begin"], s["end"]) for s in spans] == [(0, 9), (11, 21), (22, 25)]
    # without spanAnnotations: one span, the whole comment (in UTF-16 units, as Google)
    status, body, _ = await analyze(service, request)
    assert body["attributeScores"]["TOXICITY"]["spanScores"] == [whole_span(text, 0.9)]
    assert body["attributeScores"]["TOXICITY"]["spanScores"][0]["end"] == len(text) + 1


async def test_documented_request_with_unknown_attribute_is_400(service: Service) -> None:
    status, body, _ = await analyze(service, DOCUMENTED_REQUEST)
    message = assert_google_error(status, body, 400, "INVALID_ARGUMENT", "INVALID_REQUEST")
    assert message == "Unknown requested attribute: UNSUBSTANTIAL"


async def test_attribute_linear_does_not_report_is_400(service: Service) -> None:
    request = {"comment": {"text": "hello"}, "requestedAttributes": {"SEVERE_TOXICITY": {}}}
    status, body, _ = await analyze(service, request)
    message = assert_google_error(status, body, 400, "INVALID_ARGUMENT")
    assert message == "Unknown requested attribute: SEVERE_TOXICITY"
    status, body, _ = await analyze(
        service, request | {"requestedAttributes": {"TOXICITY": {}, "PROFANITY": {}}}
    )
    assert assert_google_error(status, body, 400, "INVALID_ARGUMENT") == (
        "Unknown requested attribute: PROFANITY"
    )


async def test_missing_key_is_403(service: Service) -> None:
    status, body, _ = await analyze(service, QUICKSTART_REQUEST, key=None)
    assert_google_error(status, body, 403, "PERMISSION_DENIED")
    status, body, _ = await analyze(service, QUICKSTART_REQUEST, key="")
    assert_google_error(status, body, 403, "PERMISSION_DENIED")


async def test_bad_key_is_400(service: Service) -> None:
    status, body, _ = await analyze(service, QUICKSTART_REQUEST, key="AIzaSy-not-ours")
    message = assert_google_error(status, body, 400, "INVALID_ARGUMENT")
    assert message == "API key not valid. Please pass a valid API key."
    headers = {"Authorization": "Basic abc"}
    status, body, _ = await analyze(service, QUICKSTART_REQUEST, key=None, headers=headers)
    assert_google_error(status, body, 400, "INVALID_ARGUMENT")


async def test_revoked_key_is_400(service: Service) -> None:
    from moderation.domain.models import Role
    from moderation.services.keys import Keys

    database = service.client.app[DATABASE]
    created = await Keys(database).create("coral", Role.site)
    status, _, _ = await analyze(service, QUICKSTART_REQUEST, key=created.secret)
    assert status == 200
    await Keys(database).revoke(created.key.id)
    status, body, _ = await analyze(service, QUICKSTART_REQUEST, key=created.secret)
    assert_google_error(status, body, 400, "INVALID_ARGUMENT")


async def test_key_in_authorization_header(service: Service) -> None:
    for role in ("site", "moderator", "admin"):
        status, body, _ = await analyze(
            service, QUICKSTART_REQUEST, key=None, headers=service.auth(role)
        )
        assert status == 200, body
        assert "TOXICITY" in body["attributeScores"]


async def test_do_not_store_writes_nothing(make_service: ServiceFactory) -> None:
    service = await make_service(classifier_instance=AllSeven())
    before = await count_rows(service)
    for do_not_store in (True, False):
        status, body, _ = await analyze(service, CORAL_REQUEST | {"doNotStore": do_not_store})
        assert status == 200, body
    assert await count_rows(service) == before
    assert before["comments"] == 0


async def test_coral_request_on_coral_url(service: Service) -> None:
    # Coral joins its "Custom endpoint" setting and "/comments:analyze", then sets ?key=.
    endpoint = "/v1alpha1"
    status, body, _ = await analyze(service, CORAL_REQUEST, path=f"{endpoint}/comments:analyze")
    assert status == 200, body
    value = body["attributeScores"]["TOXICITY"]["summaryScore"]["value"]
    assert 0.0 <= value <= 1.0


async def test_colon_url_routes(service: Service) -> None:
    from moderation.http.routes import perspective

    resource = service.client.app.router.resources()
    assert any(r.canonical == PATH for r in resource)
    assert perspective.PATH == PATH
    for path in (PATH, "/v1alpha1/comments%3Aanalyze"):
        status, body, _ = await analyze(service, QUICKSTART_REQUEST, path=path)
        assert status == 200, (path, body)
    # Outside the handlers too, Google's shape: a wrong method is answered as an unknown one.
    async with service.client.get(PATH) as response:
        message = assert_google_error(response.status, await response.json(), 404, "NOT_FOUND")
        assert message == "Method not found."
    status, body, _ = await analyze(service, QUICKSTART_REQUEST, path="/v1alpha1/comments:nope")
    assert_google_error(status, body, 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"comment": {"text": "hi"}, ', "JSON"),
        (b"", "non-empty"),
        (b'{"comment": {"text": "caf\xe9"}, "requestedAttributes": {"TOXICITY": {}}}', "UTF-8"),
        (b'["not", "an", "object"]', "object"),
        (b'{"requestedAttributes": {"TOXICITY": {}}}', "comment"),
        (b'{"comment": {}, "requestedAttributes": {"TOXICITY": {}}}', "comment.text"),
        (b'{"comment": {"text": ""}, "requestedAttributes": {"TOXICITY": {}}}', "empty"),
        (b'{"comment": {"text": "hi"}}', "attribute"),
        (b'{"comment": {"text": "hi"}, "requestedAttributes": {}}', "attribute"),
        (b'{"comment": {"text": 5}, "requestedAttributes": {"TOXICITY": {}}}', "comment.text"),
        (
            b'{"comment": {"text": "hi", "type": "HTML"}, "requestedAttributes": {"TOXICITY": {}}}',
            "comment.type",
        ),
        (
            b'{"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": '
            b'{"scoreThreshold": 2}}}',
            "scoreThreshold",
        ),
        (
            b'{"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": '
            b'{"scoreType": "STD_DEV_SCORE"}}}',
            "scoreType",
        ),
        (b'{"comment": {"text": "\\ud800"}, "requestedAttributes": {"TOXICITY": {}}}', "Unicode"),
    ],
)
async def test_bad_bodies_are_400_in_perspective_shape(
    service: Service, data: bytes, expected: str
) -> None:
    headers = {"Content-Type": "application/json"}
    status, body, _ = await analyze(service, data=data, headers=headers)
    message = assert_google_error(status, body, 400, "INVALID_ARGUMENT")
    assert expected in message


async def test_extra_and_ignored_fields_are_accepted(service: Service) -> None:
    request = QUICKSTART_REQUEST | {
        "comment": {"text": "hello there", "type": "PLAIN_TEXT", "someFutureField": 1},
        "context": {"entries": [{"text": "the article", "type": "PLAIN_TEXT"}]},
        "requestedAttributes": {"TOXICITY": {"scoreType": "PROBABILITY", "futureOption": True}},
        "languages": ["en-GB"],
        "doNotStore": True,
        "spanAnnotations": False,
        "clientToken": "tok",
        "sessionId": "session-1",
        "communityId": "Coral:https://example.org",
    }
    status, body, _ = await analyze(service, request)
    assert status == 200, body
    assert body["languages"] == ["en-GB"]
    assert body["clientToken"] == "tok"


async def test_classifier_unavailable_is_503(make_service: ServiceFactory) -> None:
    service = await make_service(classifier_instance=Broken())
    status, body, _ = await analyze(service, QUICKSTART_REQUEST)
    assert_google_error(status, body, 503, "UNAVAILABLE")


async def test_a_bug_is_a_500_in_googles_shape_and_logged(
    service: Service, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Perspective's clients read Google's error body, also when the service fails."""
    from moderation.services.perspective import Perspective

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a secret the client must not see")

    monkeypatch.setattr(Perspective, "analyze", broken)
    with caplog.at_level(logging.ERROR, logger="moderation.http"):
        status, body, headers = await analyze(service, QUICKSTART_REQUEST)
    message = assert_google_error(status, body, 500, "INTERNAL")
    assert "secret" not in json.dumps(body)
    assert headers["X-Request-ID"] in message
    assert headers["Access-Control-Allow-Origin"] == "*"
    (record,) = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert record.exc_info is not None


async def test_rate_limit_is_429_resource_exhausted(make_service: ServiceFactory) -> None:
    service = await make_service(rate_limit_site=1)
    statuses = []
    for _ in range(4):
        status, body, headers = await analyze(service, QUICKSTART_REQUEST)
        statuses.append(status)
    assert statuses[0] == 200 and statuses[-1] == 429
    assert_google_error(status, body, 429, "RESOURCE_EXHAUSTED")
    assert int(headers["Retry-After"]) >= 1


async def test_key_is_never_logged(service: Service, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = service.keys["site"]
    await analyze(service, QUICKSTART_REQUEST)
    await analyze(service, data=b"{not json", headers={"Content-Type": "application/json"})
    await analyze(service, {"comment": {"text": "x"}, "requestedAttributes": {"NOPE": {}}})
    # aiohttp.access is the test server's access log; the service runs with access_log=None.
    records = [r for r in caplog.records if r.name != "aiohttp.access"]
    assert records  # the request log did run
    for record in records:
        assert secret not in record.getMessage()
        assert secret not in repr(record.__dict__)


def _regex_spans(text: str) -> list[tuple[int, int]]:
    from moderation.http.routes.perspective import SENTENCE

    spans = []
    for match in SENTENCE.finditer(text):
        end = match.start() + len(match.group().rstrip())
        if end > match.start():
            spans.append((match.start(), end))
    return spans


def test_sentence_spans_are_the_documented_rule() -> None:
    import random

    from moderation.http.routes.perspective import MAX_SPANS, sentence_spans

    rng = random.Random(11)
    alphabet = "ab .!?…\"')]»\n\r\t "
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        expected = _regex_spans(text)
        if len(expected) > MAX_SPANS:
            continue
        assert sentence_spans(text) == expected, repr(text)
    assert sentence_spans("One. Two! Three?\nFour") == [(0, 4), (5, 9), (10, 16), (17, 21)]


def _lines_run(text: str) -> int:
    """How many lines of ``sentence_spans`` run for ``text``: work, counted, not timed."""
    import sys
    from types import FrameType

    from moderation.http.routes.perspective import sentence_spans

    count = 0

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        if frame.f_code is sentence_spans.__code__:
            if event == "line":
                count += 1
            return trace
        return None

    sys.settrace(trace)
    try:
        sentence_spans(text)
    finally:
        sys.settrace(None)
    return count


@pytest.mark.parametrize(
    "hostile",
    [lambda n: "a" + "." * n + "x", lambda n: "a" + " " * n + "x", lambda n: "a" + "!?" * n + "x"],
)
def test_sentence_spans_stay_linear_on_hostile_runs(hostile: Any) -> None:
    """The text that froze the service for 10-19 s (issue 17): the regex backtracks
    quadratically over the runs; the scanner's work grows in proportion to the text."""
    from moderation.http.routes.perspective import sentence_spans

    small, large = _lines_run(hostile(1000)), _lines_run(hostile(4000))
    assert large < 4.5 * small, (small, large)
    spans = sentence_spans(hostile(10_000))
    assert spans and spans[0][0] == 0


def test_the_text_that_froze_the_service_is_split_at_once() -> None:
    """A hang guard, not a speed target: the old regex took 10-19 s on this text; any
    linear scan takes milliseconds, so 5 s can only fail on the quadratic kind."""
    import threading

    from moderation.http.routes.perspective import sentence_spans

    found: list[list[tuple[int, int]]] = []
    worker = threading.Thread(
        target=lambda: found.append(sentence_spans("a" + "." * 19998 + "x")), daemon=True
    )
    worker.start()
    worker.join(timeout=5)
    assert found, "splitting 20,000 characters into sentences did not finish in 5 s"
    assert found[0] == [(0, 20000)]


# -- Google's fidelity: errors, keys, CORS, enums, languages ---------------------------------


async def test_errors_carry_googles_details(service: Service) -> None:
    status, body, _ = await analyze(service, QUICKSTART_REQUEST, key="AIzaSy-not-ours")
    assert_google_error(status, body, 400, "INVALID_ARGUMENT")
    assert body["error"]["details"] == [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "commentanalyzer.googleapis.com"},
        }
    ]
    status, body, _ = await analyze(service, QUICKSTART_REQUEST, key=None)
    assert_google_error(status, body, 403, "PERMISSION_DENIED")
    assert body["error"]["details"][0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    cases = [
        ({"comment": {"text": ""}, "requestedAttributes": {"TOXICITY": {}}}, "COMMENT_EMPTY"),
        ({"comment": {"text": "hi"}}, "NO_REQUESTED_ATTRIBUTES"),
        ({"comment": {"text": "hi"}, "requestedAttributes": {"FOO": {}}}, "INVALID_REQUEST"),
        ({"comment": {"text": 7}, "requestedAttributes": {"TOXICITY": {}}}, "INVALID_REQUEST"),
    ]
    for request, error_type in cases:
        status, body, _ = await analyze(service, request)
        assert_google_error(status, body, 400, "INVALID_ARGUMENT", error_type)
    # PyPerspective checks its key with an empty POST (no body, no Content-Type).
    async with service.client.post(PATH, params={"key": service.keys["site"]}) as response:
        message = assert_google_error(
            response.status, await response.json(), 400, "INVALID_ARGUMENT", "COMMENT_EMPTY"
        )
        assert message == "Comment must be non-empty."


async def test_the_limit_is_20480_bytes_of_utf8(service: Service) -> None:
    fits = "é" * 10_240  # 20,480 bytes in 10,240 characters
    request = {
        "comment": {"text": fits},
        "languages": ["en"],
        "requestedAttributes": {"TOXICITY": {}},
    }
    status, body, _ = await analyze(service, request)
    assert status == 200, body
    request["comment"] = {"text": fits + "é"}
    status, body, _ = await analyze(service, request)
    message = assert_google_error(status, body, 400, "INVALID_ARGUMENT", "COMMENT_TOO_LONG")
    assert message == "Comment text was too many bytes. Value (20482) exceeded limit (20480)."
    # 20,000 ASCII characters and more, up to 20,480, are fine (the old limit was 20,000).
    request["comment"] = {"text": "word " * 4_096}
    status, body, _ = await analyze(service, request)
    assert status == 200, body


async def test_x_goog_api_key_header(service: Service) -> None:
    headers = {"X-Goog-Api-Key": service.keys["site"]}
    status, body, _ = await analyze(service, QUICKSTART_REQUEST, key=None, headers=headers)
    assert status == 200, body
    headers = {"X-Goog-Api-Key": "AIzaSy-not-ours"}
    status, body, _ = await analyze(service, QUICKSTART_REQUEST, key=None, headers=headers)
    assert_google_error(status, body, 400, "INVALID_ARGUMENT")


async def test_cors_for_browser_clients(service: Service) -> None:
    preflight = {
        "Origin": "https://news.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-goog-api-key",
    }
    async with service.client.options(PATH, headers=preflight) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
        allowed = response.headers["Access-Control-Allow-Headers"].lower()
        assert "content-type" in allowed and "x-goog-api-key" in allowed
    status, _, headers = await analyze(
        service, QUICKSTART_REQUEST, headers={"Origin": "https://news.example"}
    )
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
    # The rest of the API stays same-origin.
    async with service.client.options("/v1/comments", headers=preflight) as response:
        assert "Access-Control-Allow-Origin" not in response.headers


async def test_proto_enum_defaults_are_accepted(service: Service) -> None:
    request = {
        "comment": {"text": "what kind of idiot name is foo?", "type": "TEXT_TYPE_UNSPECIFIED"},
        "requestedAttributes": {"TOXICITY": {"scoreType": "SCORE_TYPE_UNSPECIFIED"}},
    }
    status, body, _ = await analyze(service, request)
    assert status == 200, body
    assert body["attributeScores"]["TOXICITY"]["summaryScore"]["type"] == "PROBABILITY"


async def test_every_score_below_threshold_leaves_attribute_scores_out(
    make_service: ServiceFactory,
) -> None:
    service = await make_service(classifier_instance=AllSeven())
    request = {
        "comment": {"text": "hello"},
        "requestedAttributes": {"THREAT": {"scoreThreshold": 0.5}},
    }
    status, body, _ = await analyze(service, request)
    assert status == 200, body
    assert body == {"languages": ["en"], "detectedLanguages": ["en"]}


RUSSIAN = "Это очень длинный комментарий на русском языке о статье про военнопленных."


async def test_languages_are_detected_and_refused_as_google_does(service: Service) -> None:
    attributes: dict[str, Any] = {"TOXICITY": {}}
    # No languages: the text's own is identified offline.
    status, body, _ = await analyze(
        service,
        {"comment": {"text": "I read the whole article twice."}, "requestedAttributes": attributes},
    )
    assert status == 200, body
    assert body["languages"] == ["en"] and body["detectedLanguages"] == ["en"]
    # Russian was answered as English before; the English-only model cannot read it.
    status, body, _ = await analyze(
        service, {"comment": {"text": RUSSIAN}, "requestedAttributes": attributes}
    )
    message = assert_google_error(
        status, body, 400, "INVALID_ARGUMENT", "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"
    )
    assert message == "Attribute TOXICITY does not support request languages: ru"
    assert body["error"]["details"][0]["languageNotSupportedByAttributeError"] == {
        "detectedLanguages": ["ru"],
        "attribute": "TOXICITY",
    }
    # Languages the request names are the ones checked (Coral sends its locale's).
    status, body, _ = await analyze(
        service,
        {"comment": {"text": "hola"}, "languages": ["es", "pt"], "requestedAttributes": attributes},
    )
    message = assert_google_error(
        status, body, 400, "INVALID_ARGUMENT", "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"
    )
    assert message == "Attribute TOXICITY does not support request languages: es, pt"
    assert body["error"]["details"][0]["languageNotSupportedByAttributeError"] == {
        "requestedLanguages": ["es", "pt"],
        "attribute": "TOXICITY",
    }
    # ...and win over detection, as at Google; detectedLanguages still says what it is.
    status, body, _ = await analyze(
        service,
        {"comment": {"text": RUSSIAN}, "languages": ["en"], "requestedAttributes": attributes},
    )
    assert status == 200, body
    assert body["languages"] == ["en"] and body["detectedLanguages"] == ["ru"]
    # Nothing to identify: Google's LANGUAGE_DETECTION_FAILED.
    status, body, _ = await analyze(
        service, {"comment": {"text": "👍👍 🙂 1234"}, "requestedAttributes": attributes}
    )
    message = assert_google_error(
        status, body, 400, "INVALID_ARGUMENT", "LANGUAGE_DETECTION_FAILED"
    )
    assert message == "Unable to detect language"
    # A few letters cannot be identified with confidence: read as English, not refused.
    status, body, _ = await analyze(
        service, {"comment": {"text": "lol ok 👍"}, "requestedAttributes": attributes}
    )
    assert status == 200 and body["detectedLanguages"] == ["en"]
    # A tag that is not a language tag is refused, and never repeated back.
    status, body, _ = await analyze(
        service,
        {"comment": {"text": "hi"}, "languages": ["<script>"], "requestedAttributes": attributes},
    )
    message = assert_google_error(status, body, 400, "INVALID_ARGUMENT", "INVALID_REQUEST")
    assert "<script>" not in message


async def test_a_multilingual_model_reads_what_it_lists(make_service: ServiceFactory) -> None:
    class Multilingual(AllSeven):
        languages = ("en", "ru", "uk")

    service = await make_service(classifier_instance=Multilingual())
    status, body, _ = await analyze(
        service, {"comment": {"text": RUSSIAN}, "requestedAttributes": {"INSULT": {}}}
    )
    assert status == 200, body
    assert body["languages"] == ["ru"] and body["detectedLanguages"] == ["ru"]


# -- the discovery document --------------------------------------------------------------------


async def test_discovery_document_is_rooted_at_this_service(service: Service) -> None:
    for path in ("/$discovery/rest", "/%24discovery/rest"):
        async with service.client.get(path, params={"version": "v1alpha1", "key": "x"}) as r:
            assert r.status == 200, path
            document = await r.json()
    host = f"{service.client.host}:{service.client.port}"
    assert document["rootUrl"] == f"http://{host}/"
    assert document["id"] == "commentanalyzer:v1alpha1"
    methods = document["resources"]["comments"]["methods"]
    assert methods["analyze"]["path"] == "v1alpha1/comments:analyze"
    assert methods["suggestscore"]["path"] == "v1alpha1/comments:suggestscore"
    # every $ref resolves (googleapiclient builds docstrings from each)
    refs: list[str] = []

    def collect(value: Any) -> None:
        if isinstance(value, dict):
            refs.extend(v for k, v in value.items() if k == "$ref")
            for item in value.values():
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)

    collect(document)
    assert refs and set(refs) <= set(document["schemas"])
    assert "auth" not in document  # keys of this service, never Google credentials
    async with service.client.get("/$discovery/rest", params={"version": "v1"}) as r:
        assert_google_error(r.status, await r.json(), 404, "NOT_FOUND")


async def test_discovery_document_names_the_public_url(make_service: ServiceFactory) -> None:
    service = await make_service(public_url="https://moderation.example.org/")
    async with service.client.get("/$discovery/rest?version=v1alpha1") as r:
        assert (await r.json())["rootUrl"] == "https://moderation.example.org/"


# -- comments:suggestscore -------------------------------------------------------------------

SUGGEST_PATH = "/v1alpha1/comments:suggestscore"


def coral_feedback(text: str, comment_id: str, rejected: bool) -> dict[str, Any]:
    """Coral's body, as its perspective listener builds it on a moderator's decision."""
    return {
        "comment": {"text": text},
        "context": {
            "entries": [
                {
                    "text": json.dumps(
                        {
                            "url": f"https://news.example/pow-article?commentID={comment_id}",
                            "Coral_comment_id": comment_id,
                        }
                    )
                }
            ]
        },
        "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1 if rejected else 0}}},
        "languages": ["en"],
        "communityId": "Coral:https://news.example/",
        "clientToken": f"comment:{comment_id}",
    }


async def feedback_rows(service: Service) -> list[Any]:
    async with service.client.app[DATABASE].engine.connect() as conn:
        rows = await conn.execute(
            select(PerspectiveFeedbackRow).order_by(PerspectiveFeedbackRow.id)
        )
        return list(rows)


async def test_suggestscore_answers_as_google_and_stores_a_label(service: Service) -> None:
    text = "You are a paid troll and everybody here knows it."
    status, body, _ = await analyze(service, coral_feedback(text, "c-1", True), path=SUGGEST_PATH)
    assert status == 200, body
    assert body == {
        "detectedLanguages": ["en"],
        "requestedLanguages": ["en"],
        "clientToken": "comment:c-1",
    }
    (row,) = await feedback_rows(service)
    assert (row.text, row.attribute, row.category, row.value) == (text, "TOXICITY", "toxicity", 1)
    assert (row.community_id, row.client_token) == ("Coral:https://news.example/", "comment:c-1")
    # A later decision on the same comment replaces the label (Coral sends one per change).
    status, _, _ = await analyze(service, coral_feedback(text, "c-1", False), path=SUGGEST_PATH)
    assert status == 200
    (row,) = await feedback_rows(service)
    assert row.value == 0
    # Errors in Google's shape.
    bad = coral_feedback(text, "c-2", True) | {"attributeScores": {}}
    status, body, _ = await analyze(service, bad, path=SUGGEST_PATH)
    assert_google_error(status, body, 400, "INVALID_ARGUMENT", "NO_REQUESTED_ATTRIBUTES")
    bad["attributeScores"] = {"TOXICITY": {"summaryScore": {"value": 3}}}
    status, body, _ = await analyze(service, bad, path=SUGGEST_PATH)
    assert_google_error(status, body, 400, "INVALID_ARGUMENT", "INVALID_REQUEST")
    bad["attributeScores"] = {"FLIRTATION": {"summaryScore": {"value": 1}}}
    status, body, _ = await analyze(service, bad, path=SUGGEST_PATH)
    assert_google_error(status, body, 400, "INVALID_ARGUMENT", "INVALID_REQUEST")
    status, body, _ = await analyze(
        service, coral_feedback(text, "c-3", True), path=SUGGEST_PATH, key="nope"
    )
    assert_google_error(status, body, 400, "INVALID_ARGUMENT")
    assert len(await feedback_rows(service)) == 1


async def test_each_websites_suggestions_are_its_own(service: Service) -> None:
    """Two websites (scoped keys) suggesting for the same (community, token, attribute):
    each keeps its own label, and a later suggestion replaces only its own website's."""
    from moderation.domain.models import Role
    from moderation.services.keys import Keys

    database = service.client.app[DATABASE]
    secrets = {
        scope: (await Keys(database).create(f"coral-{scope}", Role.site, scope=scope)).secret
        for scope in ("a", "b")
    }
    text = "You are a paid troll and everybody here knows it."
    for scope, violates in (("a", True), ("b", False)):
        status, body, _ = await analyze(
            service, coral_feedback(text, "c-1", violates), path=SUGGEST_PATH, key=secrets[scope]
        )
        assert status == 200, body
    rows = {row.scope: row.value for row in await feedback_rows(service)}
    assert rows == {"a": 1, "b": 0}
    status, _, _ = await analyze(
        service, coral_feedback(text, "c-1", False), path=SUGGEST_PATH, key=secrets["a"]
    )
    assert status == 200
    rows = {row.scope: row.value for row in await feedback_rows(service)}
    assert rows == {"a": 0, "b": 0}


async def test_the_same_suggestion_sent_at_once_is_stored_once(
    make_service: ServiceFactory, database_url: str
) -> None:
    """A client resending a suggestion after a timeout: on PostgreSQL both deletes ran
    before either insert committed, and the second insert broke the unique constraint
    (a 500). Every call is answered, and one label is kept."""
    import asyncio

    service = await make_service(database_url=database_url)
    text = "You are a paid troll and everybody here knows it."
    answers = await asyncio.gather(
        *(analyze(service, coral_feedback(text, "c-1", True), path=SUGGEST_PATH) for _ in range(8))
    )
    assert [status for status, _, _ in answers] == [200] * 8, answers
    (row,) = await feedback_rows(service)
    assert row.value == 1
