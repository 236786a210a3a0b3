"""Google's Perspective API on this service: ``comments:analyze``, ``comments:suggestscore``
and the discovery document, in Google's shapes (``docs/perspective.md``).

Perspective closes at the end of 2026; its clients (Coral's toxic comment filter, the
PyPI and npm libraries, Google's own discovery-built client) switch by changing one URL.
This module is the wire format only — what Google's clients send and parse, errors
included; what is scored, in which languages and within which deadline is
:mod:`moderation.services.perspective`.

Errors: these paths answer in Google's error body, ``{"error": {"code": <HTTP status>,
"message", "status": "<CANONICAL_STATUS>", "details": [...]}}``, not the contract's,
because Perspective clients parse Google's (PyPerspective reads ``details[0]`` of any
error). Request errors carry ``google.commentanalyzer.v1alpha1.Error`` with Google's
``errorType``; key errors ``google.rpc.ErrorInfo`` (``API_KEY_INVALID``). Requests that
no handler takes (an unknown method, a wrong HTTP method) get Google's 404 from
:func:`google_middleware`, which also answers CORS as Google's APIs do.

Keys: ``?key=``, ``X-Goog-Api-Key`` or ``Authorization: Bearer``; never logged (the
service runs without an access log and logs routes, not query strings).

``spanScores``: without ``spanAnnotations``, one whole-comment span per attribute, as
Google answers; with it, the sentences :func:`sentence_spans` finds, in one linear pass,
by the rule :data:`SENTENCE` writes as a regex (a run that starts at a non-space character
and ends at ``.``, ``!``, ``?`` or ``…`` followed by optional closing quotes or brackets
and then whitespace or the end of the text, or ends before a line break, or at the end of
the text; whitespace between sentences belongs to no span). At most :data:`MAX_SPANS`
spans: the last one then covers the rest of the text. ``begin`` and ``end`` (exclusive)
are UTF-16 code units, as the discovery document specifies; they equal Python string
indices unless the text has characters outside the Basic Multilingual Plane.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Annotated, Any, Literal, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from moderation.domain.errors import Forbidden, ServiceError, TooManyRequests, Unauthorized
from moderation.domain.models import ApiKey, Role
from moderation.http.api import Api
from moderation.http.context import (
    API_KEY,
    DATABASE,
    PERSPECTIVE,
    RATE_LIMITER,
    REQUEST_ID,
    SETTINGS,
)
from moderation.http.parsing import describe, read_json
from moderation.http.routes.perspective_discovery import discovery_document
from moderation.services.keys import authenticate_token, require
from moderation.services.perspective import (
    ATTRIBUTES,
    Analysis,
    ClientGone,
    PerspectiveRefusal,
)

api = Api()
routes = api.routes

log = logging.getLogger("moderation.http")

PATH = "/v1alpha1/comments:analyze"
SUGGEST_PATH = "/v1alpha1/comments:suggestscore"
DISCOVERY_PATH = "/$discovery/rest"
GOOGLE_PREFIXES = ("/v1alpha1/", "/$discovery/")
"""Paths answered in Google's shapes, errors included (also for 404 and 405)."""

MAX_TEXT_BYTES = 20_480
"""Perspective's limit: 20 KB of UTF-8."""

SENTENCE = re.compile(
    r"\S.*?(?:[.!?…]+[\"'”’»)\]]*(?=\s|\Z)|(?=[ \t\f\v]*[\r\n])|\Z)",
    re.DOTALL,
)
"""One sentence for ``spanScores``; see the module docstring."""

MAX_SPANS = 50
SCORE_TYPE = "PROBABILITY"

_ECHOABLE = re.compile(r"^[A-Za-z0-9_@.-]{1,64}$")
_M = TypeVar("_M", bound=BaseModel)

LanguageTag = Annotated[str, Field(pattern=r"^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8}){0,3}$")]
"""A BCP 47 tag as Perspective takes them (``en``, ``pt-BR``, ``hi-Latn``); nothing else
is accepted, so a tag is safe to repeat in an error message."""

ERROR_TYPE = "type.googleapis.com/google.commentanalyzer.v1alpha1.Error"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
SERVICE = "commentanalyzer.googleapis.com"

_GOOGLE_STATUS: dict[int, tuple[int, str]] = {
    400: (400, "INVALID_ARGUMENT"),
    401: (401, "UNAUTHENTICATED"),
    403: (403, "PERMISSION_DENIED"),
    404: (404, "NOT_FOUND"),
    405: (405, "UNIMPLEMENTED"),
    408: (408, "DEADLINE_EXCEEDED"),
    409: (409, "ABORTED"),
    413: (400, "INVALID_ARGUMENT"),
    415: (400, "INVALID_ARGUMENT"),
    422: (400, "INVALID_ARGUMENT"),
    429: (429, "RESOURCE_EXHAUSTED"),
    503: (503, "UNAVAILABLE"),
}

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, X-Goog-Api-Key",
    "Access-Control-Max-Age": "3600",
}
"""Google's APIs answer browsers' cross-origin calls; so do these paths."""


class PerspectiveError(Exception):
    """An answer in Google's error format: HTTP status, canonical status name, message and
    Google's ``details`` (``google.rpc.ErrorInfo`` or the comment analyzer's ``Error``)."""

    def __init__(
        self,
        code: int,
        status: str,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.details = details or []
        self.retry_after = retry_after

    @classmethod
    def invalid(
        cls, message: str, error_type: str = "INVALID_REQUEST", **extra: Any
    ) -> PerspectiveError:
        detail: dict[str, Any] = {"@type": ERROR_TYPE, "errorType": error_type, **extra}
        return cls(400, "INVALID_ARGUMENT", message, details=[detail])

    @classmethod
    def from_service_error(cls, error: ServiceError) -> PerspectiveError:
        if isinstance(error, PerspectiveRefusal):
            extra = {}
            if error.error_type == "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE":
                which = "requestedLanguages" if error.extra["requested"] else "detectedLanguages"
                extra["languageNotSupportedByAttributeError"] = {
                    which: error.extra["languages"],
                    "attribute": error.extra["attribute"],
                }
            return cls.invalid(error.message, error.error_type, **extra)
        code, status = _GOOGLE_STATUS.get(error.status, (500, "INTERNAL"))
        message = error.message
        if error.details:
            problems = "; ".join(
                f"Invalid value at '{item.get('field')}': {item.get('problem')}"
                for item in error.details
            )
            message = f"{message}: {problems}"
        details: list[dict[str, Any]] = []
        if code == 400:
            details = [{"@type": ERROR_TYPE, "errorType": "INVALID_REQUEST"}]
        elif isinstance(error, TooManyRequests):
            details = [_error_info("RATE_LIMIT_EXCEEDED")]
        return cls(code, status, message, details=details, retry_after=error.retry_after)

    def response(self) -> web.Response:
        body: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            body["details"] = self.details
        response = web.json_response({"error": body}, status=self.code)
        if self.retry_after is not None:
            response.headers["Retry-After"] = str(max(1, round(self.retry_after)))
        return response


def _error_info(reason: str) -> dict[str, Any]:
    return {
        "@type": ERROR_INFO,
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": SERVICE},
    }


def is_google_path(path: str) -> bool:
    return path.startswith(GOOGLE_PREFIXES)


@web.middleware
async def google_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Google's shapes on Google's paths: CORS (preflight included) and errors raised
    outside the handlers (an unknown method 404, a wrong HTTP method 405)."""
    if not is_google_path(request.path):
        return await handler(request)
    if request.method == "OPTIONS":
        return web.Response(status=204, headers=CORS_HEADERS)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status in (404, 405):  # Google answers a wrong method as an unknown one
            response = PerspectiveError(404, "NOT_FOUND", "Method not found.").response()
        else:
            code, status = _GOOGLE_STATUS.get(exc.status, (exc.status, "UNKNOWN"))
            response = PerspectiveError(
                code,
                status,
                exc.reason,
                details=[{"@type": ERROR_TYPE, "errorType": "INVALID_REQUEST"}],
            ).response()
    except ServiceError as error:
        response = PerspectiveError.from_service_error(error).response()
    except ConnectionResetError:
        raise  # the client hung up: nobody reads an answer (errors_middleware's 499)
    except Exception:
        # A bug, logged as the errors middleware logs one; Perspective's clients still get
        # Google's body, as Google answers its own internal errors.
        request_id = request[REQUEST_ID]
        log.exception("unhandled error", extra={"request_id": request_id})
        response = PerspectiveError(
            500, "INTERNAL", f"Internal error encountered; request id {request_id}."
        ).response()
    response.headers.update(CORS_HEADERS)
    return response


class _Open(BaseModel):
    """Perspective's JSON names (camelCase); fields Perspective may add are accepted."""

    model_config = ConfigDict(extra="allow", alias_generator=to_camel, frozen=True)


class CommentIn(_Open):
    text: str
    type: Literal["PLAIN_TEXT", "TEXT_TYPE_UNSPECIFIED"] | None = None


class AttributeOptions(_Open):
    score_type: Literal["PROBABILITY", "SCORE_TYPE_UNSPECIFIED"] | None = None
    score_threshold: float | None = Field(default=None, ge=0.0, le=1.0)


class AnalyzeCommentIn(_Open):
    comment: CommentIn
    requested_attributes: dict[str, AttributeOptions | None] = Field(default_factory=dict)
    languages: list[LanguageTag] = Field(default_factory=list, max_length=32)
    do_not_store: bool = False
    span_annotations: bool = False
    client_token: str | None = None
    session_id: str | None = None
    community_id: str | None = None
    context: Any = None


class SuggestedScore(_Open):
    value: float = Field(ge=0.0, le=1.0)
    type: Literal["PROBABILITY", "SCORE_TYPE_UNSPECIFIED"] | None = None


class SuggestedAttribute(_Open):
    summary_score: SuggestedScore
    span_scores: list[Any] | None = None


class SuggestCommentScoreIn(_Open):
    comment: CommentIn
    attribute_scores: dict[str, SuggestedAttribute] = Field(default_factory=dict)
    languages: list[LanguageTag] = Field(default_factory=list, max_length=32)
    community_id: str | None = Field(default=None, max_length=200)
    client_token: str | None = Field(default=None, max_length=200)
    session_id: str | None = None
    context: Any = None


_ERROR_SCHEMA = {"type": "object", "description": "Google's error shape (docs/perspective.md)"}


@api.post(
    PATH,
    "Perspective-compatible comments:analyze (docs/perspective.md)",
    role=None,
    raw=("application/json", {"type": "object"}),
    body=AnalyzeCommentIn,
    errors=(400, 403, 408, 429, 503),
    error_schema=_ERROR_SCHEMA,
)
async def analyze_comment(request: web.Request) -> web.StreamResponse:
    """Perspective's ``AnalyzeComment``: scores per requested attribute; stores nothing."""
    started = asyncio.get_running_loop().time()
    try:
        return await _analyze(request, started)
    except ClientGone:
        return web.Response(status=499)  # nobody reads it; the metrics show it
    except PerspectiveError as error:
        return error.response()
    except ServiceError as error:
        return PerspectiveError.from_service_error(error).response()


@api.post(
    SUGGEST_PATH,
    "Perspective-compatible comments:suggestscore: a label for learning (docs/perspective.md)",
    role=None,
    raw=("application/json", {"type": "object"}),
    body=SuggestCommentScoreIn,
    errors=(400, 403, 408, 429, 503),
    error_schema=_ERROR_SCHEMA,
)
async def suggest_comment_score(request: web.Request) -> web.StreamResponse:
    """Perspective's ``SuggestCommentScore``: stored as a moderator's label for learning."""
    try:
        return await _suggest(request)
    except PerspectiveError as error:
        return error.response()
    except ServiceError as error:
        return PerspectiveError.from_service_error(error).response()


@api.get(
    DISCOVERY_PATH,
    "Google's API discovery document for commentanalyzer v1alpha1, rooted at this service",
    role=None,
    raw=("application/json", {"type": "object"}),
    errors=(404,),
    error_schema=_ERROR_SCHEMA,
)
async def discovery(request: web.Request) -> web.StreamResponse:
    """What ``googleapiclient.discovery.build`` reads; ``rootUrl`` is this service."""
    version = request.query.get("version", "v1alpha1")
    if version != "v1alpha1":
        return PerspectiveError(404, "NOT_FOUND", "Requested entity was not found.").response()
    public = request.app[SETTINGS].public_url.rstrip("/")
    root = (public or f"{request.scheme}://{request.host}") + "/"
    return web.json_response(discovery_document(root))


async def _analyze(request: web.Request, started: float) -> web.Response:
    key = await _authenticate(request)
    body = _validate(AnalyzeCommentIn, await _read(request))
    text = _check_text(body.comment.text)
    if not body.requested_attributes:
        raise PerspectiveError.invalid("Missing requested_attributes", "NO_REQUESTED_ATTRIBUTES")
    perspective = request.app[PERSPECTIVE]
    available = perspective.available()
    for name in body.requested_attributes:
        if name not in available:
            shown = name if _ECHOABLE.fullmatch(name) else "(unprintable name)"
            raise PerspectiveError.invalid(f"Unknown requested attribute: {shown}")
    del key
    languages = await perspective.languages(text, body.languages, list(body.requested_attributes))
    spans = await asyncio.to_thread(sentence_spans, text)
    analysis = await perspective.analyze(
        text,
        sentences=spans,
        spans=body.span_annotations,
        languages=languages,
        started=started,
        disconnected=lambda: request.transport is None or request.transport.is_closing(),
    )
    answer = _answer(text, body, analysis, available)
    response = web.json_response(answer)
    response.headers["X-Moderation-Scored"] = "complete" if analysis.complete else "partial"
    return response


def _answer(
    text: str, body: AnalyzeCommentIn, analysis: Analysis, available: dict[str, str]
) -> dict[str, Any]:
    whole = (0, _utf16_length(text))
    span_offsets = utf16_offsets(text, [(b, e) for b, e, _ in analysis.spans])
    attribute_scores: dict[str, Any] = {}
    for name, options in body.requested_attributes.items():
        category = available[name]
        threshold = (options or AttributeOptions()).score_threshold
        value = analysis.summary.get(category)
        if value is None:
            raise PerspectiveError(
                503, "UNAVAILABLE", "The classifier returned no score for a requested attribute."
            )
        if threshold is not None and value < threshold:
            continue
        spans: list[dict[str, Any]] = []
        if body.span_annotations and analysis.spans:
            for (begin, end), (_, _, scores) in zip(span_offsets, analysis.spans, strict=True):
                span_value = scores.get(category)
                if span_value is None or (threshold is not None and span_value < threshold):
                    continue
                spans.append({"begin": begin, "end": end, "score": _score(span_value)})
        else:
            # Google answers one whole-comment span per attribute even unasked.
            spans.append({"begin": whole[0], "end": whole[1], "score": _score(value)})
        entry: dict[str, Any] = {"summaryScore": _score(value)}
        if spans:
            entry["spanScores"] = spans
        attribute_scores[name] = entry
    answer: dict[str, Any] = {}
    if attribute_scores:  # proto3 JSON leaves an empty map out
        answer["attributeScores"] = attribute_scores
    answer["languages"] = list(analysis.languages.requested)
    answer["detectedLanguages"] = list(analysis.languages.detected)
    if body.client_token is not None:
        answer["clientToken"] = body.client_token
    if not analysis.complete:
        answer["scoredSpans"] = [
            {"begin": b, "end": e} for b, e in utf16_offsets(text, analysis.scored)
        ]
    return answer


async def _suggest(request: web.Request) -> web.Response:
    key = await _authenticate(request)
    body = _validate(SuggestCommentScoreIn, await _read(request))
    text = _check_text(body.comment.text)
    if not body.attribute_scores:
        raise PerspectiveError.invalid("Missing attribute_scores", "NO_REQUESTED_ATTRIBUTES")
    for name in body.attribute_scores:
        if name not in ATTRIBUTES:
            shown = name if _ECHOABLE.fullmatch(name) else "(unprintable name)"
            raise PerspectiveError.invalid(f"Unknown requested attribute: {shown}")
    perspective = request.app[PERSPECTIVE]
    found = await perspective.detect(text)
    await perspective.suggest(
        text,
        {name: item.summary_score.value for name, item in body.attribute_scores.items()},
        community_id=body.community_id,
        client_token=body.client_token,
        key=key,
    )
    answer: dict[str, Any] = {
        "detectedLanguages": found,
        "requestedLanguages": body.languages,
    }
    if body.client_token is not None:
        answer["clientToken"] = body.client_token
    return web.json_response(answer)


async def _read(request: web.Request) -> Any:
    """The JSON body; none at all is an empty comment, as Google answers it (PyPerspective
    checks its key with an empty POST and reads the error's ``details``)."""
    if not request.can_read_body:
        raise PerspectiveError.invalid("Comment must be non-empty.", "COMMENT_EMPTY")
    return await read_json(request)


def _check_text(text: str) -> str:
    if text == "":
        raise PerspectiveError.invalid("Comment must be non-empty.", "COMMENT_EMPTY")
    size = len(text.encode("utf-8"))
    if size > MAX_TEXT_BYTES:
        raise PerspectiveError.invalid(
            f"Comment text was too many bytes. Value ({size}) exceeded limit ({MAX_TEXT_BYTES}).",
            "COMMENT_TOO_LONG",
        )
    return text


async def _authenticate(request: web.Request) -> ApiKey:
    """The ``key`` query parameter, an ``X-Goog-Api-Key`` header, or ``Authorization: Bearer``;
    then the key's rate limit."""
    token = (
        request.query.get("key", "").strip() or request.headers.get("X-Goog-Api-Key", "").strip()
    )
    if not token:
        header = request.headers.get("Authorization", "")
        if header.strip():
            scheme, _, rest = header.strip().partition(" ")
            token = rest.strip() if scheme.lower() == "bearer" else ""
            if not token:
                raise _invalid_key()
    if not token:
        raise PerspectiveError(
            403,
            "PERMISSION_DENIED",
            "The request is missing a valid API key.",
            details=[_error_info("CREDENTIALS_MISSING")],
        )
    try:
        key = await authenticate_token(request.app[DATABASE], token)
    except Unauthorized:
        raise _invalid_key() from None
    try:
        require(key, Role.site)
    except Forbidden as error:
        raise PerspectiveError(
            403, "PERMISSION_DENIED", error.message, details=[_error_info("PERMISSION_DENIED")]
        ) from None
    request.app[RATE_LIMITER].check(key)
    request[API_KEY] = key
    return key


def _invalid_key() -> PerspectiveError:
    return PerspectiveError(
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        details=[_error_info("API_KEY_INVALID")],
    )


def _validate(model: type[_M], value: Any) -> _M:
    if not isinstance(value, dict):
        raise PerspectiveError.invalid("The request body must be a JSON object.")
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"Invalid value at '{item['field']}': {item['problem']}" for item in describe(exc)
        )
        raise PerspectiveError.invalid(problems) from None


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
