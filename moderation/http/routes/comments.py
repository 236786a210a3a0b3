"""Handlers for the website's endpoints (role ``site``)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from moderation.contract import article_json, comment_json
from moderation.domain.errors import ServiceError, ValidationFailed
from moderation.domain.models import ArticleMode, Role
from moderation.http.access import requires
from moderation.http.context import API_KEY, MODERATION
from moderation.http.middleware import error_body
from moderation.http.parsing import parse, validate
from moderation.http.schemas import (
    ID_PATTERN,
    ArticleIn,
    BatchIn,
    CheckIn,
    CommentIn,
    EditIn,
    ReportIn,
)

routes = web.RouteTableDef()

_ID = re.compile(ID_PATTERN)


def path_id(request: web.Request, name: str = "id") -> str:
    value = request.match_info[name]
    if not _ID.match(value):
        raise ValidationFailed(f"the {name} in the path is not a valid id", code="invalid_id")
    return value


@routes.post("/v1/comments")
@requires(Role.site)
async def submit_comment(request: web.Request) -> web.Response:
    body = await parse(request, CommentIn)
    result = await request.app[MODERATION].submit(body.to_domain())
    return web.json_response(comment_json(result.comment), status=201 if result.created else 200)


@routes.post("/v1/comments/batch")
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
    outcomes = await request.app[MODERATION].submit_many([item.to_domain() for _, item in valid])
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


@routes.get("/v1/comments/{id}")
@requires(Role.site)
async def get_comment(request: web.Request) -> web.Response:
    comment = await request.app[MODERATION].get(path_id(request))
    notes = request[API_KEY].role >= Role.moderator
    return web.json_response(comment_json(comment, history=True, notes=notes))


@routes.put("/v1/comments/{id}")
@requires(Role.site)
async def edit_comment(request: web.Request) -> web.Response:
    comment_id = path_id(request)
    body = await parse(request, EditIn)
    comment = await request.app[MODERATION].edit(comment_id, body.text)
    return web.json_response(comment_json(comment, history=True))


@routes.delete("/v1/comments/{id}")
@requires(Role.site)
async def delete_comment(request: web.Request) -> web.Response:
    comment = await request.app[MODERATION].delete(path_id(request))
    return web.json_response(comment_json(comment, history=True))


@routes.post("/v1/comments/{id}/reports")
@requires(Role.site)
async def report_comment(request: web.Request) -> web.Response:
    comment_id = path_id(request)
    body = await parse(request, ReportIn)
    outcome = await request.app[MODERATION].report(comment_id, body.reporter_id, body.reason)
    return web.json_response(outcome, status=202)


@routes.put("/v1/articles/{id}")
@requires(Role.site)
async def put_article(request: web.Request) -> web.Response:
    article_id = path_id(request)
    body = await parse(request, ArticleIn)
    article, created = await request.app[MODERATION].put_article(
        article_id, mode=ArticleMode(body.mode), title=body.title, url=body.url, tags=body.tags
    )
    return web.json_response(article_json(article), status=201 if created else 200)


@routes.post("/v1/comments/check")
@requires(Role.site)
async def check_comment(request: web.Request) -> web.Response:
    """A nudge before posting: what the guidelines would decide; nothing is stored."""
    body = await parse(request, CheckIn)
    checked = await request.app[MODERATION].check(body.text, article_tags=body.article_tags)
    return web.json_response(
        {
            "action": checked.verdict.action.value,
            "reasons": [reason.as_dict() for reason in checked.verdict.reasons],
            "message": checked.verdict.message,
            "scores": checked.scores or {},
            "classifier": checked.classifier,
            "guidelines_version": checked.guidelines_version,
        }
    )
