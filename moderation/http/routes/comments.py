"""Handlers for the website's endpoints (role ``site``)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from moderation.contract import (
    appeal_json,
    article_json,
    comment_json,
    notice_json,
    reasons_json,
    timestamp,
)
from moderation.domain.errors import ServiceError, ValidationFailed
from moderation.domain.models import ArticleMode, Role
from moderation.http.access import requires
from moderation.http.api import Api
from moderation.http.context import API_KEY, APPEALS, MODERATION
from moderation.http.middleware import error_body
from moderation.http.parsing import parse, validate
from moderation.http.responses import (
    AppealOut,
    ArticleOut,
    BatchOut,
    CheckOut,
    CommentOut,
    CommentWithHistory,
    NoticeOut,
    NoticeReceivedOut,
    ReportOut,
)
from moderation.http.schemas import (
    ID_PATTERN,
    AppealIn,
    ArticleIn,
    BatchIn,
    CheckIn,
    CommentIn,
    EditIn,
    NoticeIn,
    ReportIn,
)

api = Api()
routes = api.routes

_ID = re.compile(ID_PATTERN)


def path_id(request: web.Request, name: str = "id") -> str:
    value = request.match_info[name]
    if not _ID.fullmatch(value):  # match() would let "a-9\n" through: $ stops before \n
        raise ValidationFailed(f"the {name} in the path is not a valid id", code="invalid_id")
    return value


@api.post(
    "/v1/comments",
    "Moderate and store a comment (200 when already stored)",
    role="site",
    ok=201,
    response=CommentOut,
    body=CommentIn,
    errors=(409,),
    also=(200,),
)
@requires(Role.site)
async def submit_comment(request: web.Request) -> web.Response:
    body = await parse(request, CommentIn)
    result = await request.app[MODERATION].submit(body.to_domain(), scope=request[API_KEY].scope)
    return web.json_response(comment_json(result.comment), status=201 if result.created else 200)


@api.post(
    "/v1/comments/batch",
    "Moderate up to 100 comments",
    role="site",
    response=BatchOut,
    body=BatchIn,
)
@requires(Role.site)
async def submit_batch(request: web.Request) -> web.Response:
    body = await parse(request, BatchIn)
    slots: list[dict[str, Any] | None] = [None] * len(body.comments)
    valid: list[tuple[int, CommentIn]] = []
    for index, raw in enumerate(body.comments):
        try:
            valid.append((index, validate(CommentIn, raw)))
        except ServiceError as error:
            slots[index] = _item_error(error)
    outcomes = await request.app[MODERATION].submit_many(
        [item.to_domain() for _, item in valid], scope=request[API_KEY].scope
    )
    for (index, _), outcome in zip(valid, outcomes, strict=True):
        if isinstance(outcome, ServiceError):
            slots[index] = _item_error(outcome)
        else:
            slots[index] = comment_json(outcome.comment) | {"created": outcome.created}
    return web.json_response({"results": slots})


def _item_error(error: ServiceError) -> dict[str, Any]:
    body = error_body(error.code, error.message, error.details)
    body["status"] = error.status
    return body


@api.get(
    "/v1/comments/{id}",
    "A comment with its decision history",
    role="site",
    response=CommentWithHistory,
    errors=(404,),
)
@requires(Role.site)
async def get_comment(request: web.Request) -> web.Response:
    key = request[API_KEY]
    comment = await request.app[MODERATION].get(path_id(request), scope=key.scope)
    notes = key.role >= Role.moderator
    return web.json_response(comment_json(comment, history=True, notes=notes))


@api.put(
    "/v1/comments/{id}",
    "The author edited the comment: moderated again",
    role="site",
    response=CommentWithHistory,
    body=EditIn,
    errors=(404, 409),
)
@requires(Role.site)
async def edit_comment(request: web.Request) -> web.Response:
    comment_id = path_id(request)
    body = await parse(request, EditIn)
    comment = await request.app[MODERATION].edit(
        comment_id, body.text, scope=request[API_KEY].scope
    )
    return web.json_response(comment_json(comment, history=True))


@api.delete(
    "/v1/comments/{id}",
    "The author removed it: text erased, history kept",
    role="site",
    response=CommentWithHistory,
    errors=(404,),
)
@requires(Role.site)
async def delete_comment(request: web.Request) -> web.Response:
    comment = await request.app[MODERATION].delete(path_id(request), scope=request[API_KEY].scope)
    return web.json_response(comment_json(comment, history=True))


@api.post(
    "/v1/comments/{id}/reports",
    "A reader report",
    role="site",
    ok=202,
    response=ReportOut,
    body=ReportIn,
    errors=(404,),
)
@requires(Role.site)
async def report_comment(request: web.Request) -> web.Response:
    comment_id = path_id(request)
    body = await parse(request, ReportIn)
    outcome = await request.app[MODERATION].report(
        comment_id, body.reporter_id, body.reason, scope=request[API_KEY].scope
    )
    return web.json_response(outcome, status=202)


@api.post(
    "/v1/comments/{id}/notices",
    "A reader's notice of illegal content (EU DSA Art. 16): the comment goes to review",
    role="site",
    ok=202,
    response=NoticeReceivedOut,
    body=NoticeIn,
    errors=(404, 409),
)
@requires(Role.site)
async def notice_comment(request: web.Request) -> web.Response:
    comment_id = path_id(request)
    body = await parse(request, NoticeIn)
    notice = await request.app[MODERATION].notify(
        comment_id, body.to_domain(), scope=request[API_KEY].scope
    )
    return web.json_response(
        {
            "id": notice.id,
            "status": notice.status.value,
            "received_at": timestamp(notice.received_at),
            "comment_id": comment_id,
        },
        status=202,
    )


@api.get(
    "/v1/notices/{id}",
    "A notice: received, or decided with a moderator's decision on its comment",
    role="site",
    response=NoticeOut,
    errors=(404,),
)
@requires(Role.site)
async def get_notice(request: web.Request) -> web.Response:
    notice = await request.app[MODERATION].notice(path_id(request), scope=request[API_KEY].scope)
    return web.json_response(notice_json(notice))


@api.post(
    "/v1/comments/{id}/appeals",
    "The author's appeal against a restricting decision (EU DSA Art. 20)",
    role="site",
    ok=201,
    response=AppealOut,
    body=AppealIn,
    errors=(404, 409),
)
@requires(Role.site)
async def appeal_comment(request: web.Request) -> web.Response:
    comment_id = path_id(request)
    body = await parse(request, AppealIn)
    appeal = await request.app[APPEALS].appeal(
        comment_id, body.author_id, body.explanation, scope=request[API_KEY].scope
    )
    return web.json_response(appeal_json(appeal), status=201)


@api.get(
    "/v1/appeals/{id}",
    "An appeal: open, or decided by a moderator",
    role="site",
    response=AppealOut,
    errors=(404,),
)
@requires(Role.site)
async def get_appeal(request: web.Request) -> web.Response:
    appeal = await request.app[APPEALS].get(path_id(request), scope=request[API_KEY].scope)
    return web.json_response(appeal_json(appeal))


@api.put(
    "/v1/articles/{id}",
    "Create (201) or update (200) an article",
    role="site",
    response=ArticleOut,
    body=ArticleIn,
    also=(201,),
)
@requires(Role.site)
async def put_article(request: web.Request) -> web.Response:
    article_id = path_id(request)
    body = await parse(request, ArticleIn)
    article, created = await request.app[MODERATION].put_article(
        article_id,
        mode=ArticleMode(body.mode),
        title=body.title,
        url=body.url,
        tags=body.tags,
        scope=request[API_KEY].scope,
    )
    return web.json_response(article_json(article), status=201 if created else 200)


@api.post(
    "/v1/comments/check",
    "What the guidelines would decide; stores nothing",
    role="site",
    response=CheckOut,
    body=CheckIn,
)
@requires(Role.site)
async def check_comment(request: web.Request) -> web.Response:
    """A nudge before posting: what the guidelines would decide; nothing is stored."""
    body = await parse(request, CheckIn)
    checked = await request.app[MODERATION].check(body.text, article_tags=body.article_tags)
    notes = request[API_KEY].role >= Role.moderator
    return web.json_response(
        {
            "action": checked.verdict.action.value,
            "reasons": reasons_json(checked.verdict.reasons, notes=notes),
            "message": checked.verdict.message,
            "scores": checked.scores or {},
            "classifier": checked.classifier,
            "guidelines_version": checked.guidelines_version,
        }
    )
