"""Handlers for the moderators' endpoints (role ``moderator``)."""

from __future__ import annotations

from aiohttp import web

from moderation.contract import author_with_history_json, comment_json, queue_item_json
from moderation.domain.models import Action, AuthorStatus, Role, Status
from moderation.http.access import requires
from moderation.http.context import API_KEY, REVIEW
from moderation.http.parsing import parse, validate
from moderation.http.routes.comments import path_id
from moderation.http.schemas import (
    AuthorIn,
    ClaimIn,
    DecisionIn,
    QueueQuery,
    RecentQuery,
    ReleaseIn,
)
from moderation.services.review import QueueFilter

routes = web.RouteTableDef()


@routes.get("/v1/queue")
@requires(Role.moderator)
async def queue(request: web.Request) -> web.Response:
    query = validate(QueueQuery, dict(request.query))
    entries, total = await request.app[REVIEW].queue(
        QueueFilter(query.article_id, query.category, query.reason),
        limit=query.limit,
        offset=query.offset,
    )
    return web.json_response({"items": [queue_item_json(e) for e in entries], "total": total})


@routes.post("/v1/queue/claim")
@requires(Role.moderator)
async def claim(request: web.Request) -> web.Response:
    body = await parse(request, ClaimIn)
    entries = await request.app[REVIEW].claim(
        request[API_KEY], body.limit, QueueFilter(body.article_id, body.category)
    )
    return web.json_response({"items": [queue_item_json(e) for e in entries]})


@routes.post("/v1/queue/release")
@requires(Role.moderator)
async def release(request: web.Request) -> web.Response:
    body = await parse(request, ReleaseIn)
    released = await request.app[REVIEW].release(request[API_KEY], body.ids)
    return web.json_response({"released": released})


@routes.post("/v1/comments/{id}/decision")
@requires(Role.moderator)
async def decide(request: web.Request) -> web.Response:
    comment_id = path_id(request)
    body = await parse(request, DecisionIn)
    comment = await request.app[REVIEW].decide(
        request[API_KEY], comment_id, Action(body.action), body.reason, body.note
    )
    return web.json_response(comment_json(comment, history=True, notes=True))


@routes.get("/v1/comments")
@requires(Role.moderator)
async def recent(request: web.Request) -> web.Response:
    """Recently decided comments, newest first, with optional filters."""
    query = validate(RecentQuery, dict(request.query))
    comments = await request.app[REVIEW].recent(
        limit=query.limit,
        status=Status(query.status) if query.status else None,
        article_id=query.article_id,
        author_id=query.author_id,
    )
    return web.json_response({"items": [comment_json(c, notes=True) for c in comments]})


@routes.get("/v1/authors/{id}")
@requires(Role.moderator)
async def get_author(request: web.Request) -> web.Response:
    author, recent = await request.app[REVIEW].author(path_id(request))
    return web.json_response(author_with_history_json(author, recent))


@routes.put("/v1/authors/{id}")
@requires(Role.moderator)
async def put_author(request: web.Request) -> web.Response:
    author_id = path_id(request)
    body = await parse(request, AuthorIn)
    author, recent = await request.app[REVIEW].set_author(
        request[API_KEY], author_id, AuthorStatus(body.status), body.reason
    )
    return web.json_response(author_with_history_json(author, recent))
