"""``GET /openapi.json``: an OpenAPI 3.1 description of the whole HTTP API.

Built from the route declarations themselves (``http/api.py``): each handler is declared
once, with its summary, role, request models (the same pydantic models the handler
validates with, ``http/schemas.py``) and response model (``http/responses.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from moderation.http.api import Api, Operation
from moderation.http.responses import Anything, Error

api = Api()
routes = api.routes


def _operation_id(op: Operation) -> str:
    name = op.path.strip("/").replace("/", "_").replace("{", "").replace("}", "")
    name = name.replace(":", "_").replace(".", "_")
    return f"{op.method}_{name}"


def build(operations: Iterable[Operation]) -> dict[str, Any]:
    components: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, Any]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in schema.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components.setdefault(model.__name__, schema)
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    error = ref(Error)
    paths: dict[str, Any] = {}
    for op in operations:
        if op.raw is not None:
            media, schema = op.raw
            success = {media: {"schema": schema}}
        else:
            success = {"application/json": {"schema": ref(op.response or Anything)}}
        failure = {"application/json": {"schema": op.error_schema or error}}
        operation: dict[str, Any] = {
            "summary": op.summary,
            "operationId": _operation_id(op),
            "responses": {
                **{
                    str(code): {"description": "OK", "content": success}
                    for code in (op.ok, *op.also)
                },
                **{
                    str(code): {"description": "Error", "content": failure}
                    for code in op.error_statuses
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
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Comment moderation service",
            "version": "1.0.0",
            "description": "Contract: approve / hold / reject reader comments. A key with a"
            " `scope` (a website) sees and changes only that scope's articles, comments,"
            " queue, authors and reports, whose ids are unique within the scope (another"
            " scope's are 404); keys without one work in the default scope. The guidelines"
            " are shared by all scopes.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


class Description:
    """The description of the routes an app serves, built on first request, then kept."""

    def __init__(self, apis: Iterable[Api]) -> None:
        self.operations = [op for declared in apis for op in declared.operations]
        self._spec: dict[str, Any] | None = None

    @property
    def spec(self) -> dict[str, Any]:
        if self._spec is None:
            self._spec = build(self.operations)
        return self._spec


DESCRIPTION = web.AppKey("openapi", Description)


@api.get(
    "/openapi.json", "This description", role=None, raw=("application/json", {"type": "object"})
)
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[DESCRIPTION].spec)
