"""``GET /openapi.json``: an OpenAPI 3.1 description of the whole HTTP API.

Request bodies and query parameters come from the same pydantic models the handlers
validate with (``http/schemas.py``); response shapes from the models below, which
mirror ``moderation/representation.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from moderation.http import schemas
from moderation.http.guidelines_document import GuidelinesDocument
from moderation.http.routes import perspective

routes = web.RouteTableDef()


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class Error(_Out):
    class Body(_Out):
        code: str
        message: str
        details: list[dict[str, str]] | None = None

    error: Body


class ReasonOut(_Out):
    code: str
    action: Literal["approve", "hold", "reject"]
    rule: str | None
    category: str | None
    score: float | None
    threshold: float | None
    guideline: str | None
    message: str


class DecisionOut(_Out):
    id: int
    action: Literal["approve", "hold", "reject"]
    by: Literal["auto", "moderator"]
    moderator: str | None
    reasons: list[ReasonOut]
    message: str
    scores: dict[str, float]
    classifier: str | None
    guidelines_version: int
    at: str


class CommentOut(_Out):
    id: str
    article_id: str
    author_id: str
    author_name: str | None
    parent_id: str | None
    text: str | None
    status: Literal["approved", "pending", "rejected"]
    decision: DecisionOut | None
    article_tags: list[str]
    metadata: dict[str, Any]
    created_at: str
    updated_at: str
    deleted_at: str | None


class CommentWithHistory(CommentOut):
    history: list[DecisionOut]


class BatchOut(_Out):
    results: list[dict[str, Any]]


class ArticleOut(_Out):
    id: str
    title: str | None
    url: str | None
    tags: list[str]
    mode: Literal["auto", "premoderate", "closed"]


class ReportOut(_Out):
    accepted: bool
    counted: bool
    reporters: int
    status: str


class QueueItem(CommentOut):
    priority: int
    claim: dict[str, Any] | None
    queue_reasons: list[str]


class QueueOut(_Out):
    items: list[QueueItem]
    total: int


class ClaimOut(_Out):
    items: list[QueueItem]


class CommentsOut(_Out):
    items: list[CommentOut]


class AuthorOut(_Out):
    author_id: str
    status: Literal["active", "premoderated", "banned"]
    counts: dict[str, int]
    recent: list[dict[str, Any]]


class GuidelinesOut(GuidelinesDocument):
    model_config = ConfigDict(extra="allow")


class Anything(_Out):
    pass


class CheckOut(_Out):
    action: Literal["approve", "hold", "reject"]
    reasons: list[ReasonOut]
    message: str
    scores: dict[str, float]
    classifier: str
    guidelines_version: int


class HealthOut(_Out):
    status: Literal["ok", "degraded"]
    classifier: str
    database: Literal["ok", "unavailable"]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    role: str | None
    ok: int
    response: type[BaseModel] | None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = (400, 401, 403, 404, 413, 422, 429)
    also: tuple[int, ...] = ()  # other success statuses with the same body


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "post",
        "/v1/comments",
        "Moderate and store a comment (200 when already stored)",
        "site",
        201,
        CommentOut,
        schemas.CommentIn,
        errors=(400, 401, 403, 409, 413, 422, 429),
        also=(200,),
    ),
    Operation(
        "post",
        "/v1/comments/batch",
        "Moderate up to 100 comments",
        "site",
        200,
        BatchOut,
        schemas.BatchIn,
    ),
    Operation(
        "post",
        "/v1/comments/check",
        "What the guidelines would decide; stores nothing",
        "site",
        200,
        CheckOut,
        schemas.CheckIn,
    ),
    Operation(
        "get",
        "/v1/comments/{id}",
        "A comment with its decision history",
        "site",
        200,
        CommentWithHistory,
    ),
    Operation(
        "put",
        "/v1/comments/{id}",
        "The author edited the comment: moderated again",
        "site",
        200,
        CommentWithHistory,
        schemas.EditIn,
        errors=(400, 401, 403, 404, 409, 422),
    ),
    Operation(
        "delete",
        "/v1/comments/{id}",
        "The author removed it: text erased, history kept",
        "site",
        200,
        CommentWithHistory,
    ),
    Operation(
        "post",
        "/v1/comments/{id}/reports",
        "A reader report",
        "site",
        202,
        ReportOut,
        schemas.ReportIn,
    ),
    Operation(
        "put",
        "/v1/articles/{id}",
        "Create (201) or update (200) an article",
        "site",
        200,
        ArticleOut,
        schemas.ArticleIn,
        also=(201,),
    ),
    Operation(
        "get",
        "/v1/queue",
        "Pending comments, most urgent first",
        "moderator",
        200,
        QueueOut,
        query=schemas.QueueQuery,
    ),
    Operation(
        "post",
        "/v1/queue/claim",
        "Lease pending comments for claim_seconds",
        "moderator",
        200,
        ClaimOut,
        schemas.ClaimIn,
    ),
    Operation(
        "post",
        "/v1/queue/release",
        "Give back the caller's leases",
        "moderator",
        200,
        Anything,
        schemas.ReleaseIn,
    ),
    Operation(
        "get",
        "/v1/comments",
        "Recently decided comments",
        "moderator",
        200,
        CommentsOut,
        query=schemas.RecentQuery,
    ),
    Operation(
        "post",
        "/v1/comments/{id}/decision",
        "A moderator approves or rejects",
        "moderator",
        200,
        CommentWithHistory,
        schemas.DecisionIn,
        errors=(400, 401, 403, 404, 409, 422),
    ),
    Operation("get", "/v1/authors/{id}", "An author's standing", "moderator", 200, AuthorOut),
    Operation(
        "put",
        "/v1/authors/{id}",
        "Set an author's standing",
        "moderator",
        200,
        AuthorOut,
        schemas.AuthorIn,
    ),
    Operation("get", "/v1/guidelines", "The guidelines in force", "admin", 200, GuidelinesOut),
    Operation(
        "put",
        "/v1/guidelines",
        "A new guidelines version",
        "admin",
        200,
        GuidelinesOut,
        GuidelinesDocument,
        schemas.GuidelinesPutQuery,
    ),
    Operation(
        "get",
        "/v1/guidelines/versions",
        "Every version, who made it and when",
        "admin",
        200,
        Anything,
    ),
    Operation(
        "get", "/v1/guidelines/versions/{version}", "One version", "admin", 200, GuidelinesOut
    ),
    Operation(
        "post",
        "/v1/guidelines/versions/{version}/restore",
        "A new version with an earlier version's document",
        "admin",
        200,
        GuidelinesOut,
    ),
    Operation(
        "post",
        "/v1/guidelines/backtest",
        "What proposed guidelines would have decided",
        "admin",
        200,
        Anything,
        schemas.BacktestIn,
    ),
    Operation(
        "post",
        "/v1/guidelines/suggest",
        "Thresholds moderators agree with",
        "admin",
        200,
        Anything,
        schemas.SuggestIn,
    ),
    Operation(
        "post",
        "/v1/webhooks",
        "Subscribe a URL to status changes",
        "admin",
        201,
        Anything,
        schemas.WebhookIn,
    ),
    Operation("get", "/v1/webhooks", "The webhooks", "admin", 200, Anything),
    Operation(
        "put",
        "/v1/guidelines/shadow",
        "Run proposed guidelines in shadow",
        "admin",
        201,
        Anything,
        schemas.ShadowIn,
    ),
    Operation(
        "get",
        "/v1/guidelines/shadow",
        "Shadow run: disagreements with the live decisions",
        "admin",
        200,
        Anything,
        query=schemas.ListQuery,
    ),
    Operation("delete", "/v1/guidelines/shadow", "Stop the shadow run", "admin", 200, Anything),
    Operation("delete", "/v1/webhooks/{id}", "Remove a webhook", "admin", 200, Anything),
    Operation(
        "get",
        "/v1/webhooks/{id}/deliveries",
        "Delivery attempts and errors",
        "admin",
        200,
        Anything,
        query=schemas.ListQuery,
    ),
    Operation(
        "post", "/v1/keys", "Create an API key (shown once)", "admin", 201, Anything, schemas.KeyIn
    ),
    Operation("get", "/v1/keys", "The keys (never their secrets)", "admin", 200, Anything),
    Operation("delete", "/v1/keys/{id}", "Revoke a key at once", "admin", 200, Anything),
    Operation(
        "get",
        "/v1/audit",
        "Who changed what, when",
        "admin",
        200,
        Anything,
        query=schemas.AuditQuery,
    ),
    Operation(
        "get", "/healthz", "Health: database and classifier", None, 200, HealthOut, errors=(503,)
    ),
)


def _operation_id(op: Operation) -> str:
    name = op.path.strip("/").replace("/", "_").replace("{", "").replace("}", "")
    return f"{op.method}_{name}"


def build() -> dict[str, Any]:
    components: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, Any]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in schema.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components.setdefault(model.__name__, schema)
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    error = ref(Error)
    paths: dict[str, Any] = {}
    for op in OPERATIONS:
        operation: dict[str, Any] = {
            "summary": op.summary,
            "operationId": _operation_id(op),
            "responses": {
                **{
                    str(code): {
                        "description": "OK",
                        "content": {"application/json": {"schema": ref(op.response or Anything)}},
                    }
                    for code in (op.ok, *op.also)
                },
                **{
                    str(code): {
                        "description": "Error",
                        "content": {"application/json": {"schema": error}},
                    }
                    for code in sorted({*op.errors, 503} if op.role else set(op.errors))
                },
            },
        }
        if op.role is not None:
            operation["security"] = [{"bearer": []}]
            operation["description"] = f"Needs a key of role `{op.role}` or higher."
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in ("id", "version")
            if "{" + name + "}" in op.path
        ]
        if op.query is not None:
            for name, field in op.query.model_json_schema()["properties"].items():
                parameters.append({"name": name, "in": "query", "required": False, "schema": field})
        if parameters:
            operation["parameters"] = parameters
        if op.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(op.body)}},
            }
        paths.setdefault(op.path, {})[op.method] = operation
    paths["/openapi.json"] = {
        "get": {
            "summary": "This description",
            "responses": {
                "200": {
                    "description": "OpenAPI 3.1",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }
    paths[perspective.PATH] = {
        "post": {
            "summary": "Perspective-compatible comments:analyze (docs/perspective.md)",
            "parameters": [
                {"name": "key", "in": "query", "required": False, "schema": {"type": "string"}}
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref(perspective.AnalyzeCommentIn)}},
            },
            "responses": {
                "200": {
                    "description": "Perspective's response shape",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "400": {
                    "description": "Perspective's error shape",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "403": {
                    "description": "Perspective's error shape",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
            },
        }
    }
    paths["/metrics"] = {
        "get": {
            "summary": "Prometheus metrics",
            "responses": {
                "200": {
                    "description": "Prometheus text format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    }
    paths["/ui/"] = {
        "get": {
            "summary": "The moderators' web page",
            "responses": {
                "200": {
                    "description": "HTML",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                }
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Comment moderation service",
            "version": "1.0.0",
            "description": "Contract: approve / hold / reject reader comments.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


_SPEC: dict[str, Any] | None = None


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    global _SPEC
    if _SPEC is None:
        _SPEC = build()
    return web.json_response(_SPEC)
