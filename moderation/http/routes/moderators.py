"""Handlers for the moderators' endpoints (role ``moderator``)."""

from __future__ import annotations

from functools import partial

from aiohttp import web

from moderation.contract import (
    appeal_for_moderators_json,
    appeal_json,
    author_with_history_json,
    bulk_outcome_json,
    comment_json,
    context_json,
    notice_for_moderators_json,
    queue_item_json,
)
from moderation.domain.appeals import AppealOutcome
from moderation.domain.errors import ValidationFailed
from moderation.domain.models import Action, AuthorStatus, Ground, Role, Status
from moderation.domain.review import BulkOutcome, QueueOrder
from moderation.http.access import requires
from moderation.http.api import Api
from moderation.http.context import API_KEY, APPEALS, MODERATION, REVIEW
from moderation.http.pagination import decode_cursor, encode_cursor, page_json
from moderation.http.parsing import parse, parse_query
from moderation.http.responses import (
    Anything,
    AppealOut,
    AuthorOut,
    BulkOut,
    ClaimOut,
    CommentsOut,
    CommentWithHistory,
    ContextOut,
    ModeratorAppealsOut,
    ModeratorNoticesOut,
    QueueOut,
    SweepOut,
)
from moderation.http.routes.comments import path_id
from moderation.http.schemas import (
    AppealDecisionIn,
    AuthorIn,
    BulkDecisionIn,
    ClaimIn,
    DecisionIn,
    QueueQuery,
    RecentQuery,
    ReleaseIn,
    SweepIn,
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
    query = parse_query(request, QueueQuery)
    # The queue reorders as comments are decided, so its cursor is a position, not a key.
    after = decode_cursor(query.cursor)
    offset = _position(after) if after is not None else query.offset
    items, total = await request.app[REVIEW].queue(
        QueueFilter(query.article_id, query.category, query.reason),
        limit=query.limit,
        offset=offset,
        scope=request[API_KEY].scope,
        order=QueueOrder(query.sort),
    )
    end = offset + len(items)
    return web.json_response(
        {
            "items": [queue_item_json(i.entry, i) for i in items],
            "total": total,
            "next_cursor": encode_cursor([str(end)]) if items and end < total else None,
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
    items = await request.app[REVIEW].claim(
        request[API_KEY],
        body.limit,
        QueueFilter(body.article_id, body.category),
        QueueOrder(body.sort),
    )
    return web.json_response({"items": [queue_item_json(i.entry, i) for i in items]})


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


@api.post(
    "/v1/decisions/bulk",
    "One moderator decision for several comments, each decided as if alone (per-id results)",
    role="moderator",
    response=BulkOut,
    body=BulkDecisionIn,
)
@requires(Role.moderator)
async def decide_bulk(request: web.Request) -> web.Response:
    """Each id gets its own result: the resource (200) or the error it alone would get
    (404, 409 ``claimed_by_other``, …); 422 for the request (unknown rule, repeats, over
    the limit) decides nothing."""
    body = await parse(request, BulkDecisionIn)
    outcomes = await request.app[REVIEW].decide_many(
        request[API_KEY], body.ids, Action(body.action), body.reason, body.note, body.rule
    )
    return web.json_response(_bulk_json(outcomes))


def _bulk_json(outcomes: list[BulkOutcome]) -> dict[str, object]:
    decided = sum(1 for o in outcomes if o.comment is not None)
    return {
        "results": [bulk_outcome_json(o) for o in outcomes],
        "decided": decided,
        "failed": len(outcomes) - decided,
    }


@api.post(
    "/v1/authors/{id}/reject-pending",
    "Reject an author's pending comments (at most 500 a call; `remaining`: how many are left)",
    role="moderator",
    response=SweepOut,
    body=SweepIn,
)
@requires(Role.moderator)
async def reject_pending(request: web.Request) -> web.Response:
    author_id = path_id(request)
    body = await parse(request, SweepIn)
    outcomes, remaining = await request.app[REVIEW].reject_pending_of(
        request[API_KEY], author_id, body.reason, body.note, body.rule
    )
    return web.json_response(_bulk_json(outcomes) | {"remaining": remaining})


@api.get(
    "/v1/comments/{id}/context",
    "For moderators: a comment's article (headline, link), the comment it answers, its thread",
    role="moderator",
    response=ContextOut,
    errors=(404,),
)
@requires(Role.moderator)
async def comment_context(request: web.Request) -> web.Response:
    context = await request.app[REVIEW].context(path_id(request), scope=request[API_KEY].scope)
    return web.json_response(context_json(context))


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
    query = parse_query(request, RecentQuery)
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
