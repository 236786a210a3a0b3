"""``/openapi.json`` is valid OpenAPI and describes every route the app serves."""

from __future__ import annotations

from openapi_spec_validator import validate

from tests.conftest import Service


async def test_spec_is_valid_and_complete(service: Service) -> None:
    async with service.client.get("/openapi.json") as response:
        assert response.status == 200
        spec = await response.json()
    validate(spec)
    documented = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    served = set()
    for route in service.client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        # Not API operations: the page's redirect and its own files.
        if path is None or route.method == "HEAD" or path in {"/ui", "/ui/{name}"}:
            continue
        served.add((route.method, path))
    missing = {r for r in served if r not in documented}
    assert not missing, f"undocumented routes: {sorted(missing)}"
    phantom = {r for r in documented if r not in served}
    assert not phantom, f"documented but not served: {sorted(phantom)}"


async def test_every_authenticated_operation_documents_the_standard_errors(
    service: Service,
) -> None:
    async with service.client.get("/openapi.json") as response:
        spec = await response.json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if "security" not in operation:
                continue
            statuses = set(operation["responses"])
            assert {"401", "403", "429", "503"} <= statuses, (method, path)


async def test_request_bodies_come_from_the_handlers_models(service: Service) -> None:
    async with service.client.get("/openapi.json") as response:
        spec = await response.json()
    body = spec["paths"]["/v1/comments"]["post"]["requestBody"]["content"]["application/json"]
    schema = spec["components"]["schemas"][body["schema"]["$ref"].rsplit("/", 1)[-1]]
    assert set(schema["required"]) == {"id", "article_id", "author_id", "text"}
    assert schema["properties"]["text"]["maxLength"] == 20_000


async def test_the_comment_description_names_every_field_the_service_sends(
    service: Service,
) -> None:
    status, comment = await service.post_comment(text="A calm remark about the budget.")
    assert status == 201
    async with service.client.get("/openapi.json") as response:
        spec = await response.json()
    described = set(spec["components"]["schemas"]["CommentOut"]["properties"])
    assert set(comment) == described, set(comment) ^ described
