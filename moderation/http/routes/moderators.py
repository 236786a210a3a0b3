"""Handlers for the moderators' endpoints (role ``moderator``)."""

from __future__ import annotations

from functools import partial

from aiohttp import web

from moderation.contract import (
    appeal_for_moderators_json,
    appeal_json,
    author_with_history_json,
    comment_json,
    notice_for_moderators_json,
    queue_item_json,
)
from moderation.domain.appeals import AppealOutcome
from moderation.domain.errors import ValidationFailed
from moderation.domain.models import Action, AuthorStatus, Ground, Role, Status
from moderation.http.access import requires
from moderation.http.api import Api
from moderation.http.context import API_KEY, APPEALS, MODERATION, REVIEW
from moderation.http.pagination import decode_cursor, encode_cursor, page_json
from moderation.http.parsing import parse, validate
from moderation.http.responses import (
    Anything,
    AppealOut,
    AuthorOut,
    ClaimOut,
    CommentsOut,
    CommentWithHistory,
    ModeratorAppealsOut,
    ModeratorNoticesOut,
    QueueOut,
)
from moderation.http.routes.comments import path_id
from moderation.http.schemas import (
    AppealDecisionIn,
    AuthorIn,
    ClaimIn,
    DecisionIn,
    QueueQuery,
    RecentQuery,
    ReleaseIn,
)
from moderation.services.review import QueueFilter

api = Api()
routes = api.routes


@api.get(
    "/v1/queue",
    "Pending comments, most urgent first",
    role="moderator",
    response=QueueOut,
    query=QueueQuery,
)
@requires(Role.moderator)
async def queue(request: web.Request) -> web.Response:
    query = validate(QueueQuery, dict(request.query))
    # The queue reorders as comments are decided, so its cursor is a position, not a key.
    after = decode_cursor(query.cursor)
    offset = _position(after) if after is not None else query.offset
    entries, total = await request.app[REVIEW].queue(
        QueueFilter(query.article_id, query.category, query.reason),
        limit=query.limit,
        offset=offset,
        scope=request[API_KEY].scope,
    )
    end = offset + len(entries)
    return web.json_response(
        {
            "items": [queue_item_json(e) for e in entries],
            "total": total,
            "next_cursor": encode_cursor([str(end)]) if entries and end < total else None,
        }
    )


def _position(key: tuple[str, ...]) -> int:
    if len(key) != 1 or not (key[0].isascii() and key[0].isdigit()) or len(key[0]) > 9:
        raise ValidationFailed("the cursor is not one this service gave", code="invalid_cursor")
    return int(key[0])


@api.post(
    "/v1/queue/claim",
    "Lease pending comments for claim_seconds",
    role="moderator",
    response=ClaimOut,
    body=ClaimIn,
)
@requires(Role.moderator)
async def claim(request: web.Request) -> web.Response:
    body = await parse(request, ClaimIn)
    entries = await request.app[REVIEW].claim(
        request[API_KEY], body.limit, QueueFilter(body.article_id, body.category)
    )
    return web.json_response({"items": [queue_item_json(e) for e in entries]})


@api.post(
    "/v1/queue/release",
    "Give back the caller's leases",
    role="moderator",
    response=Anything,
    body=ReleaseIn,
)
@requires(Role.moderator)
async def release(request: web.Request) -> web.Response:
    body = await parse(request, ReleaseIn)
    released = await request.app[REVIEW].release(request[API_KEY], body.ids)
    return web.json_response({"released": released})


@api.post(
    "/v1/comments/{id}/decision",
    "A moderator approves or rejects",
    role="moderator",
    response=CommentWithHistory,
    body=DecisionIn,
    errors=(404, 409),
)
@requires(Role.moderator)
async def decide(request: web.Request) -> web.Response:
    comment_id = path_id(request)
    body = await parse(request, DecisionIn)
    comment = await request.app[REVIEW].decide(
        request[API_KEY],
        comment_id,
        Action(body.action),
        body.reason,
        body.note,
        body.rule,
        revision=body.revision,
        ground=Ground(body.ground),
        legal_ground=body.legal_ground,
    )
    return web.json_response(comment_json(comment, history=True, notes=True))


@api.get(
    "/v1/comments/{id}/notices",
    "For moderators: the notices on a comment, with what the reporter wrote (not who)",
    role="moderator",
    response=ModeratorNoticesOut,
    errors=(404,),
)
@requires(Role.moderator)
async def comment_notices(request: web.Request) -> web.Response:
    found = await request.app[MODERATION].notices_of(path_id(request), scope=request[API_KEY].scope)
    return web.json_response({"items": [notice_for_moderators_json(*n) for n in found]})


@api.get(
    "/v1/comments/{id}/appeals",
    "For moderators: the appeals on a comment, with the author's explanation",
    role="moderator",
    response=ModeratorAppealsOut,
    errors=(404,),
)
@requires(Role.moderator)
async def comment_appeals(request: web.Request) -> web.Response:
    found = await request.app[APPEALS].of_comment(path_id(request), scope=request[API_KEY].scope)
    return web.json_response({"items": [appeal_for_moderators_json(*a) for a in found]})


@api.post(
    "/v1/appeals/{id}/decision",
    "A moderator decides an appeal: upheld, or reversed (the comment is published)",
    role="moderator",
    response=AppealOut,
    body=AppealDecisionIn,
    errors=(404, 409),
)
@requires(Role.moderator)
async def decide_appeal(request: web.Request) -> web.Response:
    appeal_id = path_id(request)
    body = await parse(request, AppealDecisionIn)
    appeal, _ = await request.app[APPEALS].decide(
        request[API_KEY], appeal_id, AppealOutcome(body.outcome), body.reason
    )
    return web.json_response(appeal_json(appeal))


@api.get(
    "/v1/comments",
    "Recently decided comments, newest first",
    role="moderator",
    response=CommentsOut,
    query=RecentQuery,
)
@requires(Role.moderator)
async def recent(request: web.Request) -> web.Response:
    """Recently decided comments, newest first, with optional filters."""
    query = validate(RecentQuery, dict(request.query))
    page = await request.app[REVIEW].recent(
        limit=query.limit,
        status=Status(query.status) if query.status else None,
        article_id=query.article_id,
        author_id=query.author_id,
        after=decode_cursor(query.cursor),
        scope=request[API_KEY].scope,
    )
    return web.json_response(page_json(page, partial(comment_json, notes=True)))


@api.get("/v1/authors/{id}", "An author's standing", role="moderator", response=AuthorOut)
@requires(Role.moderator)
async def get_author(request: web.Request) -> web.Response:
    author, recent = await request.app[REVIEW].author(
        path_id(request), scope=request[API_KEY].scope
    )
    return web.json_response(author_with_history_json(author, recent))


@api.put(
    "/v1/authors/{id}",
    "Set an author's standing",
    role="moderator",
    response=AuthorOut,
    body=AuthorIn,
)
@requires(Role.moderator)
async def put_author(request: web.Request) -> web.Response:
    author_id = path_id(request)
    body = await parse(request, AuthorIn)
    author, recent = await request.app[REVIEW].set_author(
        request[API_KEY], author_id, AuthorStatus(body.status), body.reason
    )
    return web.json_response(author_with_history_json(author, recent))
