"""A Perspective-API-compatible endpoint: ``POST /v1alpha1/comments:analyze``.

Sites whose commenting platform (Coral Talk, for one) asks Google's Perspective
API for scores can point its endpoint at this service and change nothing else.
The request and response bodies follow Perspective's ``AnalyzeComment`` method
(https://github.com/conversationai/perspectiveapi, ``api_reference.md``); the
scores are this service's classifier's own probabilities, not Google's.

Attributes map to the contract's categories one to one:

=====================  ===================
Perspective attribute  our category
=====================  ===================
``TOXICITY``           ``toxicity``
``SEVERE_TOXICITY``    ``severe_toxicity``
``IDENTITY_ATTACK``    ``identity_attack``
``INSULT``             ``insult``
``PROFANITY``          ``obscene``
``THREAT``             ``threat``
``SEXUALLY_EXPLICIT``  ``sexual_explicit``
=====================  ===================

An attribute that is not in this table, or whose category the running
classifier does not report (the ``linear`` classifier reports only
``toxicity``), is refused with 400 ``Attribute FOO does not exist.``

Errors: this endpoint intentionally answers in Perspective's error format
(Google's standard error body), ``{"error": {"code": 400, "message": "...",
"status": "INVALID_ARGUMENT"}}``, *not* in the contract's
``{"error": {"code": "<snake_case>", ...}}`` format, because Perspective
clients parse Google's shape. ``code`` is the HTTP status. Mapping: bad input
(malformed JSON, non-UTF-8 body, missing ``comment.text``, no requested
attribute, unknown attribute, body too large) 400 ``INVALID_ARGUMENT``; no key
403 ``PERMISSION_DENIED``; a key we do not know (or a revoked one) 400
``INVALID_ARGUMENT`` "API key not valid. Please pass a valid API key.", as
Google answers; rate limited or classifier queue full 429
``RESOURCE_EXHAUSTED`` with ``Retry-After``; classifier unavailable 503
``UNAVAILABLE``. Requests that never reach the handler (a ``GET`` on the path,
an unknown path) still get the contract's format from the middleware.

Authentication: the ``key`` query parameter, as Perspective does, or an
``Authorization: Bearer <key>`` header; any key of role ``site`` or higher.
The key's rate limit applies as on every other endpoint. The key is never
logged: the service runs without an access log (``moderation/cli.py``) and the
request log names the route, not the query string. A reverse proxy in front of
the service may log query strings; prefer the header there, or scrub ``key``.

Request fields: ``comment.text`` (required, at most 20,000 characters),
``comment.type`` (only ``PLAIN_TEXT``, as in Perspective), ``requestedAttributes``
(required, at least one; options ``scoreType``: only ``PROBABILITY``, and
``scoreThreshold`` in [0, 1]), ``languages``, ``doNotStore``,
``spanAnnotations``, ``clientToken``; ``sessionId``, ``context`` and any other
field Perspective may add are accepted and ignored.

- ``doNotStore`` is honoured trivially: this endpoint stores nothing at all
  (no comment, no decision, no audit row); the text lives only in memory for
  the time of the request.
- ``scoreThreshold``: as documented by Perspective, "the API won't return
  scores that are below this threshold": an attribute whose summary score is
  below it is left out of ``attributeScores``, and so are span scores below it.
- ``languages`` is echoed (``["en"]`` when none is given). No language
  detection runs: ``detectedLanguages`` mirrors ``languages``. Languages are not
  refused; scores of an English-only classifier on other languages are weak.
- ``spanAnnotations: true`` adds ``spanScores`` per attribute: the text is split
  into sentences by :func:`sentence_spans`, in one linear pass, by the rule
  :data:`SENTENCE` writes as a regex (a run that starts at a non-space character
  and ends at ``.``, ``!``, ``?`` or ``…`` followed by optional closing quotes or
  brackets and then whitespace or the end of the text, or ends before a line
  break, or at the end of the text; whitespace between sentences belongs to no
  span; abbreviations such as "e.g." end a sentence too). The whole text and
  every sentence are scored in one batch. At most :data:`MAX_SPANS` spans are
  returned: the last one then covers the rest of the text. ``begin`` and ``end``
  (exclusive) are offsets in UTF-16 code units, as Perspective's discovery
  document specifies ("The values are the UTF-16 codepoint range. 'end' is
  exclusive."); they equal Python string indices unless the text has characters
  outside the Basic Multilingual Plane (most emoji), which count two units.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from classifiers.base import Scores
from moderation.domain.errors import Forbidden, ServiceError, Unauthorized
from moderation.domain.models import ApiKey, Role
from moderation.http.api import Api
from moderation.http.context import API_KEY, DATABASE, RATE_LIMITER, SCORER
from moderation.http.parsing import describe, read_json
from moderation.http.schemas import MAX_TEXT_CHARS
from moderation.services.keys import authenticate_token, require

api = Api()
routes = api.routes

PATH = "/v1alpha1/comments:analyze"

ATTRIBUTES: dict[str, str] = {
    "TOXICITY": "toxicity",
    "SEVERE_TOXICITY": "severe_toxicity",
    "IDENTITY_ATTACK": "identity_attack",
    "INSULT": "insult",
    "PROFANITY": "obscene",
    "THREAT": "threat",
    "SEXUALLY_EXPLICIT": "sexual_explicit",
}
"""Perspective attribute name -> the contract's category name."""

SENTENCE = re.compile(
    r"\S.*?(?:[.!?…]+[\"'”’»)\]]*(?=\s|\Z)|(?=[ \t\f\v]*[\r\n])|\Z)",
    re.DOTALL,
)
"""One sentence for ``spanScores``; see the module docstring."""

MAX_SPANS = 50
SCORE_TYPE = "PROBABILITY"

_ECHOABLE = re.compile(r"^[A-Za-z0-9_@.-]{1,64}$")

_GOOGLE_STATUS: dict[int, tuple[int, str]] = {
    400: (400, "INVALID_ARGUMENT"),
    401: (401, "UNAUTHENTICATED"),
    403: (403, "PERMISSION_DENIED"),
    404: (404, "NOT_FOUND"),
    409: (409, "ABORTED"),
    413: (400, "INVALID_ARGUMENT"),
    422: (400, "INVALID_ARGUMENT"),
    429: (429, "RESOURCE_EXHAUSTED"),
    503: (503, "UNAVAILABLE"),
}


class PerspectiveError(Exception):
    """An answer in Google's error format: HTTP status, canonical status name, message."""

    def __init__(
        self, code: int, status: str, message: str, *, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.retry_after = retry_after

    @classmethod
    def invalid(cls, message: str) -> PerspectiveError:
        return cls(400, "INVALID_ARGUMENT", message)

    @classmethod
    def from_service_error(cls, error: ServiceError) -> PerspectiveError:
        code, status = _GOOGLE_STATUS.get(error.status, (500, "INTERNAL"))
        message = error.message
        if error.details:
            problems = "; ".join(
                f"Invalid value at '{item.get('field')}': {item.get('problem')}"
                for item in error.details
            )
            message = f"{message}: {problems}"
        return cls(code, status, message, retry_after=error.retry_after)

    def response(self) -> web.Response:
        body = {"error": {"code": self.code, "message": self.message, "status": self.status}}
        response = web.json_response(body, status=self.code)
        if self.retry_after is not None:
            response.headers["Retry-After"] = str(max(1, round(self.retry_after)))
        return response


class _Open(BaseModel):
    """Perspective's JSON names (camelCase); fields Perspective may add are accepted."""

    model_config = ConfigDict(extra="allow", alias_generator=to_camel, frozen=True)


class CommentIn(_Open):
    text: str = Field(max_length=MAX_TEXT_CHARS)
    type: Literal["PLAIN_TEXT"] | None = None


class AttributeOptions(_Open):
    score_type: Literal["PROBABILITY"] | None = None
    score_threshold: float | None = Field(default=None, ge=0.0, le=1.0)


class AnalyzeCommentIn(_Open):
    comment: CommentIn
    requested_attributes: dict[str, AttributeOptions | None] = Field(default_factory=dict)
    languages: list[str] = Field(default_factory=list, max_length=32)
    do_not_store: bool = False
    span_annotations: bool = False
    client_token: str | None = None
    session_id: str | None = None
    context: Any = None


@api.post(
    PATH,
    "Perspective-compatible comments:analyze (docs/perspective.md)",
    role=None,
    raw=("application/json", {"type": "object"}),
    body=AnalyzeCommentIn,
    errors=(400, 403, 429, 503),
    error_schema={"type": "object", "description": "Perspective's error shape"},
)
async def analyze_comment(request: web.Request) -> web.Response:
    """Perspective's ``AnalyzeComment``: scores per requested attribute; stores nothing."""
    try:
        return await _analyze(request)
    except PerspectiveError as error:
        return error.response()
    except ServiceError as error:
        return PerspectiveError.from_service_error(error).response()


async def _analyze(request: web.Request) -> web.Response:
    key = await _authenticate(request)
    request.app[RATE_LIMITER].check(key)
    request[API_KEY] = key
    body = _validate(await read_json(request))
    if body.comment.text == "":
        raise PerspectiveError.invalid("Comment text was empty.")
    if not body.requested_attributes:
        raise PerspectiveError.invalid("Must specify at least one attribute.")
    scorer = request.app[SCORER]
    available = set(scorer.classifier.categories)
    for name in body.requested_attributes:
        if ATTRIBUTES.get(name) not in available:
            shown = name if _ECHOABLE.match(name) else "(unprintable name)"
            raise PerspectiveError.invalid(f"Attribute {shown} does not exist.")

    text = body.comment.text
    spans = sentence_spans(text) if body.span_annotations else []
    results = await scorer.score([text, *(text[begin:end] for begin, end in spans)])
    scores = [result for result in results if result is not None]
    if len(scores) != len(results):
        raise PerspectiveError(503, "UNAVAILABLE", "The classifier is unavailable; retry shortly.")
    offsets = utf16_offsets(text, spans)
    attribute_scores: dict[str, Any] = {}
    for name, options in body.requested_attributes.items():
        entry = _attribute_score(
            ATTRIBUTES[name], options or AttributeOptions(), scores[0], scores[1:], offsets
        )
        if entry is not None:
            attribute_scores[name] = entry
    languages = body.languages or ["en"]
    answer: dict[str, Any] = {
        "attributeScores": attribute_scores,
        "languages": languages,
        "detectedLanguages": languages,
    }
    if body.client_token is not None:
        answer["clientToken"] = body.client_token
    return web.json_response(answer)


async def _authenticate(request: web.Request) -> ApiKey:
    """The ``key`` query parameter, else an ``Authorization: Bearer`` header."""
    token = request.query.get("key", "").strip()
    if not token:
        header = request.headers.get("Authorization", "")
        if header.strip():
            scheme, _, rest = header.strip().partition(" ")
            token = rest.strip() if scheme.lower() == "bearer" else ""
            if not token:
                raise _invalid_key()
    if not token:
        raise PerspectiveError(403, "PERMISSION_DENIED", "The request is missing a valid API key.")
    try:
        key = await authenticate_token(request.app[DATABASE], token)
    except Unauthorized:
        raise _invalid_key() from None
    try:
        require(key, Role.site)
    except Forbidden as error:
        raise PerspectiveError(403, "PERMISSION_DENIED", error.message) from None
    return key


def _invalid_key() -> PerspectiveError:
    return PerspectiveError.invalid("API key not valid. Please pass a valid API key.")


def _validate(value: Any) -> AnalyzeCommentIn:
    if not isinstance(value, dict):
        raise PerspectiveError.invalid("The request body must be a JSON object.")
    try:
        return AnalyzeCommentIn.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"Invalid value at '{item['field']}': {item['problem']}" for item in describe(exc)
        )
        raise PerspectiveError.invalid(problems) from None


def _attribute_score(
    category: str,
    options: AttributeOptions,
    summary: Scores,
    sentences: list[Scores],
    offsets: list[tuple[int, int]],
) -> dict[str, Any] | None:
    threshold = options.score_threshold
    value = summary.get(category)
    if value is None:
        raise PerspectiveError(
            503, "UNAVAILABLE", "The classifier returned no score for a requested attribute."
        )
    if threshold is not None and value < threshold:
        return None
    entry: dict[str, Any] = {"summaryScore": _score(value)}
    spans = []
    for (begin, end), scores in zip(offsets, sentences, strict=True):
        span_value = scores.get(category)
        if span_value is None or (threshold is not None and span_value < threshold):
            continue
        spans.append({"begin": begin, "end": end, "score": _score(span_value)})
    if spans:
        entry["spanScores"] = spans
    return entry


def _score(value: float) -> dict[str, Any]:
    return {"value": float(value), "type": SCORE_TYPE}


_TERMINATORS = frozenset(".!?…")
_CLOSERS = frozenset("\"'”’»)]")
_LINE_SPACE = frozenset(" \t\f\v")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(begin, end)`` string indices of each sentence, trailing whitespace excluded.

    One left-to-right pass: the sentences :data:`SENTENCE` describes, found in linear
    time. (The regex itself backtracks quadratically over runs of ``.``/``!``/``?``: a
    20 KB text of dots took seconds, so it only documents the rule, and a test checks
    that both agree.)"""
    n = len(text)
    # breaks[j]: text[j:] starts with optional line-space and then a line break.
    breaks = [False] * (n + 1)
    for j in range(n - 1, -1, -1):
        c = text[j]
        breaks[j] = c in "\r\n" or (c in _LINE_SPACE and breaks[j + 1])
    spans = []
    i = 0
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        begin, j = i, i + 1  # a sentence has at least its first character
        while True:
            if j >= n:
                end = n
                break
            if text[j] in _TERMINATORS:
                k = j
                while k < n and text[k] in _TERMINATORS:
                    k += 1
                m = k
                while m < n and text[m] in _CLOSERS:
                    m += 1
                if m == n or text[m].isspace():
                    end = m
                    break
                j = m  # no shorter run ends here either, nor any start inside it
                continue
            if breaks[j]:
                end = j
                break
            j += 1
        stripped = len(text[begin:end].rstrip())
        if stripped:
            spans.append((begin, begin + stripped))
        i = max(end, begin + 1)
    if len(spans) > MAX_SPANS:
        spans = [*spans[: MAX_SPANS - 1], (spans[MAX_SPANS - 1][0], spans[-1][1])]
    return spans


def utf16_offsets(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans (ascending string indices) as UTF-16 code unit offsets."""
    result = []
    position = units = 0
    for begin, end in spans:
        units += _utf16_length(text[position:begin])
        start = units
        units += _utf16_length(text[begin:end])
        result.append((start, units))
        position = end
    return result


def _utf16_length(text: str) -> int:
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)
