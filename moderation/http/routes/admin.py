"""Handlers for the admins' endpoints (role ``admin``): guidelines, webhooks, keys, audit."""

from __future__ import annotations

from functools import partial
from typing import Any

from aiohttp import web

from moderation.contract import (
    audit_json,
    delivery_json,
    key_json,
    timestamp,
    webhook_json,
)
from moderation.domain.errors import ValidationFailed
from moderation.domain.events import EVENTS
from moderation.domain.models import Role
from moderation.domain.records import CaseFilter, ShadowRun
from moderation.http.access import requires
from moderation.http.api import Api
from moderation.http.context import (
    API_KEY,
    AUDIT,
    GUIDELINES_ADMIN,
    KEYS,
    LEARNING,
    SCORER,
    SHADOW_RUNS,
    WEBHOOKS,
)
from moderation.http.guidelines_document import GuidelinesDocument, parse_document
from moderation.http.pagination import decode_cursor, page_json
from moderation.http.parsing import parse, parse_query, path_text, read_json
from moderation.http.responses import (
    Anything,
    AuditOut,
    DeliveriesOut,
    GuidelinesOut,
    KeysOut,
    LearnOut,
    VersionsOut,
    WebhooksOut,
)
from moderation.http.schemas import (
    AuditQuery,
    BacktestIn,
    GuidelinesPutQuery,
    KeyIn,
    LearnIn,
    ListQuery,
    ShadowIn,
    SuggestIn,
    WebhookIn,
)
from moderation.services.guidelines import Version
from moderation.services.webhooks import WebhookHealth

api = Api()
routes = api.routes


def _version_json(version: Version, *, document: bool = True) -> dict[str, Any]:
    meta = {
        "version": version.version,
        "created_by": version.created_by,
        "created_at": timestamp(version.created_at),
        "note": version.note,
        "changes": version.changes,
    }
    return (dict(version.document) | meta) if document else meta


def _version_number(request: web.Request) -> int:
    raw = request.match_info["version"]
    # isdigit() alone accepts "³" and "٣": only ASCII digits are a version number.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise ValidationFailed("a version is a positive integer", code="invalid_version")
    return int(raw)


# -- guidelines ------------------------------------------------------------------------------


@api.get("/v1/guidelines", "The guidelines in force", role="admin", response=GuidelinesOut)
@requires(Role.admin)
async def get_guidelines(request: web.Request) -> web.Response:
    return web.json_response(_version_json(await request.app[GUIDELINES_ADMIN].current()))


@api.put(
    "/v1/guidelines",
    "A new guidelines version",
    role="admin",
    response=GuidelinesOut,
    body=GuidelinesDocument,
    query=GuidelinesPutQuery,
)
@requires(Role.admin)
async def put_guidelines(request: web.Request) -> web.Response:
    query = parse_query(request, GuidelinesPutQuery)
    document = await parse_document(await read_json(request))
    version = await request.app[GUIDELINES_ADMIN].put(request[API_KEY], document, query.note)
    return web.json_response(_version_json(version))


@api.get(
    "/v1/guidelines/versions",
    "Every version, who made it and when, oldest first",
    role="admin",
    response=VersionsOut,
    query=ListQuery,
)
@requires(Role.admin)
async def list_versions(request: web.Request) -> web.Response:
    query = parse_query(request, ListQuery)
    page = await request.app[GUIDELINES_ADMIN].versions(query.limit, decode_cursor(query.cursor))
    return web.json_response(page_json(page, partial(_version_json, document=False)))


@api.get(
    "/v1/guidelines/versions/{version}",
    "One version",
    role="admin",
    response=GuidelinesOut,
    errors=(404,),
)
@requires(Role.admin)
async def get_version(request: web.Request) -> web.Response:
    version = await request.app[GUIDELINES_ADMIN].version(_version_number(request))
    return web.json_response(_version_json(version))


@api.post(
    "/v1/guidelines/versions/{version}/restore",
    "A new version with an earlier version's document",
    role="admin",
    response=GuidelinesOut,
    errors=(404,),
)
@requires(Role.admin)
async def restore_version(request: web.Request) -> web.Response:
    admin = request.app[GUIDELINES_ADMIN]
    version = await admin.restore(request[API_KEY], _version_number(request))
    return web.json_response(_version_json(version))


@api.post(
    "/v1/guidelines/backtest",
    "What proposed guidelines would have decided",
    role="admin",
    response=Anything,
    body=BacktestIn,
)
@requires(Role.admin)
async def backtest(request: web.Request) -> web.Response:
    body = await parse(request, BacktestIn)
    document = await parse_document(body.guidelines)
    filters = CaseFilter(body.since, body.until, body.article_id, tuple(body.tags))
    result = await request.app[GUIDELINES_ADMIN].backtest(
        document, filters, body.samples, scope=request[API_KEY].scope
    )
    return web.json_response(result.to_json())


@api.post(
    "/v1/guidelines/suggest",
    "Thresholds moderators agree with",
    role="admin",
    response=Anything,
    body=SuggestIn,
)
@requires(Role.admin)
async def suggest(request: web.Request) -> web.Response:
    body = await parse(request, SuggestIn)
    classifier = body.classifier or request.app[SCORER].name
    filters = CaseFilter(body.since, body.until, body.article_id, tuple(body.tags))
    suggestions = await request.app[GUIDELINES_ADMIN].suggest(
        filters, classifier, body.target_precision, body.min_evidence
    )
    return web.json_response(
        {
            "classifier": classifier,
            "target_precision": body.target_precision,
            "suggestions": [s.to_json() for s in suggestions],
        }
    )


@api.post(
    "/v1/guidelines/learn",
    "Propose the guidelines in force plus examples learned from moderators' decisions",
    role="admin",
    response=LearnOut,
    body=LearnIn,
)
@requires(Role.admin)
async def learn(request: web.Request) -> web.Response:
    """Nothing changes until an admin PUTs the proposal (or an edited one)."""
    body = await parse(request, LearnIn)
    proposal = await request.app[LEARNING].propose(
        per_rule=body.per_rule, samples=body.samples, scope=request[API_KEY].scope
    )
    return web.json_response(
        {
            "guidelines": proposal.guidelines,
            "learned": [item.to_json() for item in proposal.learned],
            "labels": proposal.labels,
            "backtest": proposal.backtest.to_json(),
        }
    )


@api.put(
    "/v1/guidelines/shadow",
    "Run proposed guidelines in shadow",
    role="admin",
    ok=201,
    response=Anything,
    body=ShadowIn,
)
@requires(Role.admin)
async def start_shadow(request: web.Request) -> web.Response:
    """Run proposed guidelines beside the live ones on every new comment."""
    body = await parse(request, ShadowIn)
    document = await parse_document(body.guidelines)
    run = await request.app[SHADOW_RUNS].start(request[API_KEY], document, body.note)
    return web.json_response(_shadow_run_json(run), status=201)


@api.get(
    "/v1/guidelines/shadow",
    "Shadow run: disagreements with the live decisions",
    role="admin",
    response=Anything,
    query=ListQuery,
    errors=(404,),
)
@requires(Role.admin)
async def shadow_report(request: web.Request) -> web.Response:
    query = parse_query(request, ListQuery)
    result = await request.app[SHADOW_RUNS].report(min(query.limit, 100))
    return web.json_response(
        _shadow_run_json(result.run)
        | {
            "total": result.total,
            "disagreements": result.disagreements,
            "matrix": result.matrix,
            "samples": [s | {"at": timestamp(s["at"])} for s in result.samples],
        }
    )


@api.delete(
    "/v1/guidelines/shadow", "Stop the shadow run", role="admin", response=Anything, errors=(404,)
)
@requires(Role.admin)
async def stop_shadow(request: web.Request) -> web.Response:
    await request.app[SHADOW_RUNS].stop(request[API_KEY])
    return web.json_response({"stopped": True})


def _shadow_run_json(run: ShadowRun) -> dict[str, Any]:
    return {
        "run": run.id,
        "active": run.stopped_at is None,
        "note": run.note,
        "started_by": run.started_by,
        "started_at": timestamp(run.started_at),
        "stopped_at": timestamp(run.stopped_at),
        "guidelines": dict(run.document),
    }


# -- webhooks --------------------------------------------------------------------------------


@api.post(
    "/v1/webhooks",
    "Subscribe a URL to status changes",
    role="admin",
    ok=201,
    response=Anything,
    body=WebhookIn,
)
@requires(Role.admin)
async def create_webhook(request: web.Request) -> web.Response:
    body = await parse(request, WebhookIn)
    created = await request.app[WEBHOOKS].create(request[API_KEY], body.url, body.events)
    return web.json_response(webhook_json(created.webhook) | {"secret": created.secret}, status=201)


@api.get(
    "/v1/webhooks",
    "The webhooks, oldest first, each with its delivery backlog and last failing deliveries;"
    " and the event names a webhook may subscribe to",
    role="admin",
    response=WebhooksOut,
    query=ListQuery,
)
@requires(Role.admin)
async def list_webhooks(request: web.Request) -> web.Response:
    query = parse_query(request, ListQuery)
    page = await request.app[WEBHOOKS].overview(
        query.limit, decode_cursor(query.cursor), scope=request[API_KEY].scope
    )
    return web.json_response(page_json(page, _webhook_health_json) | {"events": list(EVENTS)})


def _webhook_health_json(health: WebhookHealth) -> dict[str, Any]:
    return webhook_json(health.webhook) | {
        "backlog": {
            "pending": health.pending,
            "oldest_pending_at": timestamp(health.oldest_pending_at),
            "failing": health.failing,
        },
        "last_errors": [delivery_json(d) for d in health.last_errors],
    }


@api.delete("/v1/webhooks/{id}", "Remove a webhook", role="admin", response=Anything, errors=(404,))
@requires(Role.admin)
async def delete_webhook(request: web.Request) -> web.Response:
    await request.app[WEBHOOKS].remove(request[API_KEY], path_text(request, "id")[:64])
    return web.json_response({"deleted": True})


@api.get(
    "/v1/webhooks/{id}/deliveries",
    "Delivery attempts and errors, newest first",
    role="admin",
    response=DeliveriesOut,
    query=ListQuery,
    errors=(404,),
)
@requires(Role.admin)
async def list_deliveries(request: web.Request) -> web.Response:
    query = parse_query(request, ListQuery)
    page = await request.app[WEBHOOKS].deliveries(
        path_text(request, "id")[:64],
        query.limit,
        decode_cursor(query.cursor),
        scope=request[API_KEY].scope,
    )
    return web.json_response(page_json(page, delivery_json))


# -- keys and audit --------------------------------------------------------------------------


@api.post(
    "/v1/keys",
    "Create an API key (shown once), optionally scoped to one website; names are unique per"
    " role among active keys",
    role="admin",
    ok=201,
    response=Anything,
    body=KeyIn,
    errors=(409,),
)
@requires(Role.admin)
async def create_key(request: web.Request) -> web.Response:
    body = await parse(request, KeyIn)
    created = await request.app[KEYS].create(
        body.name,
        Role[body.role],
        actor=request[API_KEY],
        rate_limit=body.rate_limit,
        scope=body.scope,
    )
    return web.json_response(key_json(created.key) | {"key": created.secret}, status=201)


@api.get(
    "/v1/keys",
    "The keys (never their secrets), oldest first",
    role="admin",
    response=KeysOut,
    query=ListQuery,
)
@requires(Role.admin)
async def list_keys(request: web.Request) -> web.Response:
    query = parse_query(request, ListQuery)
    page = await request.app[KEYS].listing(
        query.limit, decode_cursor(query.cursor), scope=request[API_KEY].scope
    )
    return web.json_response(page_json(page, key_json))


@api.delete("/v1/keys/{id}", "Revoke a key at once", role="admin", response=Anything, errors=(404,))
@requires(Role.admin)
async def revoke_key(request: web.Request) -> web.Response:
    await request.app[KEYS].revoke(path_text(request, "id")[:64], actor=request[API_KEY])
    return web.json_response({"revoked": True})


@api.get(
    "/v1/audit",
    "Who changed what, when; newest first",
    role="admin",
    response=AuditOut,
    query=AuditQuery,
)
@requires(Role.admin)
async def audit_log(request: web.Request) -> web.Response:
    query = parse_query(request, AuditQuery)
    page = await request.app[AUDIT].recent(
        query.limit, query.action, decode_cursor(query.cursor), scope=request[API_KEY].scope
    )
    return web.json_response(page_json(page, audit_json))


# -- identity-term audit ---------------------------------------------------------------------
# Imported here, not above, while the imports above are being edited in parallel: move them
# up into those blocks when both land.
from moderation.http.context import IDENTITY_AUDIT  # noqa: E402
from moderation.http.responses import IdentityAuditOut  # noqa: E402
from moderation.http.schemas import IdentityAuditIn  # noqa: E402


@api.get(
    "/v1/guidelines/audit",
    "Identity-term audit: neutral sentences naming groups, decided by the guidelines in force",
    role="admin",
    response=IdentityAuditOut,
)
@requires(Role.admin)
async def identity_audit(request: web.Request) -> web.Response:
    """Per identity term, the share of its neutral sentences held and rejected."""
    audited = await request.app[IDENTITY_AUDIT].current()
    return web.json_response(audited.to_json())


@api.post(
    "/v1/guidelines/audit",
    "Identity-term audit of proposed guidelines (nothing is stored)",
    role="admin",
    response=IdentityAuditOut,
    body=IdentityAuditIn,
)
@requires(Role.admin)
async def identity_audit_proposal(request: web.Request) -> web.Response:
    body = await parse(request, IdentityAuditIn)
    document = await parse_document(body.guidelines)
    audited = await request.app[IDENTITY_AUDIT].proposal(document)
    return web.json_response(audited.to_json())
