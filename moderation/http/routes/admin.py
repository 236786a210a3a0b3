"""Handlers for the admins' endpoints (role ``admin``): guidelines, webhooks, keys, audit."""

from __future__ import annotations

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
from moderation.domain.models import Role
from moderation.domain.records import CaseFilter, ShadowRun
from moderation.http.access import requires
from moderation.http.context import API_KEY, DATABASE, GUIDELINES_ADMIN, SCORER
from moderation.http.guidelines_document import GuidelinesDocument
from moderation.http.parsing import parse, read_json, validate
from moderation.http.schemas import (
    AuditQuery,
    BacktestIn,
    GuidelinesPutQuery,
    KeyIn,
    ListQuery,
    ShadowIn,
    SuggestIn,
    WebhookIn,
)
from moderation.services import audit, shadow, webhooks
from moderation.services import keys as auth
from moderation.services.guidelines import Version

routes = web.RouteTableDef()


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


@routes.get("/v1/guidelines")
@requires(Role.admin)
async def get_guidelines(request: web.Request) -> web.Response:
    return web.json_response(_version_json(await request.app[GUIDELINES_ADMIN].current()))


@routes.put("/v1/guidelines")
@requires(Role.admin)
async def put_guidelines(request: web.Request) -> web.Response:
    query = validate(GuidelinesPutQuery, dict(request.query))
    document = validate(GuidelinesDocument, await read_json(request)).to_json()
    version = await request.app[GUIDELINES_ADMIN].put(request[API_KEY], document, query.note)
    return web.json_response(_version_json(version))


@routes.get("/v1/guidelines/versions")
@requires(Role.admin)
async def list_versions(request: web.Request) -> web.Response:
    versions = await request.app[GUIDELINES_ADMIN].versions()
    return web.json_response({"versions": [_version_json(v, document=False) for v in versions]})


@routes.get("/v1/guidelines/versions/{version}")
@requires(Role.admin)
async def get_version(request: web.Request) -> web.Response:
    version = await request.app[GUIDELINES_ADMIN].version(_version_number(request))
    return web.json_response(_version_json(version))


@routes.post("/v1/guidelines/versions/{version}/restore")
@requires(Role.admin)
async def restore_version(request: web.Request) -> web.Response:
    admin = request.app[GUIDELINES_ADMIN]
    version = await admin.restore(request[API_KEY], _version_number(request))
    return web.json_response(_version_json(version))


@routes.post("/v1/guidelines/backtest")
@requires(Role.admin)
async def backtest(request: web.Request) -> web.Response:
    body = await parse(request, BacktestIn)
    document = validate(GuidelinesDocument, body.guidelines).to_json()
    filters = CaseFilter(body.since, body.until, body.article_id, tuple(body.tags))
    result = await request.app[GUIDELINES_ADMIN].backtest(document, filters, body.samples)
    return web.json_response(result.to_json())


@routes.post("/v1/guidelines/suggest")
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


@routes.put("/v1/guidelines/shadow")
@requires(Role.admin)
async def start_shadow(request: web.Request) -> web.Response:
    """Run proposed guidelines beside the live ones on every new comment."""
    body = await parse(request, ShadowIn)
    document = validate(GuidelinesDocument, body.guidelines).to_json()
    run = await shadow.start(request.app[DATABASE], request[API_KEY], document, body.note)
    return web.json_response(_shadow_run_json(run), status=201)


@routes.get("/v1/guidelines/shadow")
@requires(Role.admin)
async def shadow_report(request: web.Request) -> web.Response:
    query = validate(ListQuery, dict(request.query))
    result = await shadow.report(request.app[DATABASE], min(query.limit, 100))
    return web.json_response(
        _shadow_run_json(result.run)
        | {
            "total": result.total,
            "disagreements": result.disagreements,
            "matrix": result.matrix,
            "samples": [s | {"at": timestamp(s["at"])} for s in result.samples],
        }
    )


@routes.delete("/v1/guidelines/shadow")
@requires(Role.admin)
async def stop_shadow(request: web.Request) -> web.Response:
    await shadow.stop(request.app[DATABASE], request[API_KEY])
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


@routes.post("/v1/webhooks")
@requires(Role.admin)
async def create_webhook(request: web.Request) -> web.Response:
    body = await parse(request, WebhookIn)
    created = await webhooks.create(request.app[DATABASE], request[API_KEY], body.url, body.events)
    return web.json_response(webhook_json(created.webhook) | {"secret": created.secret}, status=201)


@routes.get("/v1/webhooks")
@requires(Role.admin)
async def list_webhooks(request: web.Request) -> web.Response:
    found = await webhooks.listing(request.app[DATABASE])
    return web.json_response({"webhooks": [webhook_json(w) for w in found]})


@routes.delete("/v1/webhooks/{id}")
@requires(Role.admin)
async def delete_webhook(request: web.Request) -> web.Response:
    await webhooks.remove(request.app[DATABASE], request[API_KEY], request.match_info["id"][:64])
    return web.json_response({"deleted": True})


@routes.get("/v1/webhooks/{id}/deliveries")
@requires(Role.admin)
async def list_deliveries(request: web.Request) -> web.Response:
    query = validate(ListQuery, dict(request.query))
    found = await webhooks.deliveries(
        request.app[DATABASE], request.match_info["id"][:64], query.limit
    )
    return web.json_response({"deliveries": [delivery_json(d) for d in found]})


# -- keys and audit --------------------------------------------------------------------------


@routes.post("/v1/keys")
@requires(Role.admin)
async def create_key(request: web.Request) -> web.Response:
    body = await parse(request, KeyIn)
    created = await auth.create_key(
        request.app[DATABASE],
        body.name,
        Role[body.role],
        actor=request[API_KEY].name,
        rate_limit=body.rate_limit,
    )
    return web.json_response(key_json(created.key) | {"key": created.secret}, status=201)


@routes.get("/v1/keys")
@requires(Role.admin)
async def list_keys(request: web.Request) -> web.Response:
    keys = await auth.list_keys(request.app[DATABASE])
    return web.json_response({"keys": [key_json(k) for k in keys]})


@routes.delete("/v1/keys/{id}")
@requires(Role.admin)
async def revoke_key(request: web.Request) -> web.Response:
    await auth.revoke_key(
        request.app[DATABASE], request.match_info["id"][:64], actor=request[API_KEY].name
    )
    return web.json_response({"revoked": True})


@routes.get("/v1/audit")
@requires(Role.admin)
async def audit_log(request: web.Request) -> web.Response:
    query = validate(AuditQuery, dict(request.query))
    entries = await audit.recent(request.app[DATABASE], query.limit, query.action)
    return web.json_response({"entries": [audit_json(e) for e in entries]})
