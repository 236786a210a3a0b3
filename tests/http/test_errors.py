"""Every bad input gets a clear 4xx in the contract's error format, never a 5xx."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Service


def assert_error(status: int, body: object, expected_status: int, code: str | None = None) -> None:
    assert status == expected_status, body
    assert isinstance(body, dict) and set(body) == {"error"}
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"].islower()
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code


async def raw(
    service: Service,
    method: str,
    path: str,
    data: bytes,
    role: str = "site",
    content_type: str = "application/json",
) -> tuple[int, object]:
    headers = service.auth(role) | {"Content-Type": content_type}
    async with service.client.request(method, path, data=data, headers=headers) as response:
        return response.status, await response.json()


async def test_missing_and_unknown_keys(service: Service) -> None:
    async with service.client.get("/v1/comments/c-1") as response:
        assert_error(response.status, await response.json(), 401, "missing_key")
    async with service.client.get(
        "/v1/comments/c-1", headers={"Authorization": "Bearer nope"}
    ) as r:
        assert_error(r.status, await r.json(), 401, "invalid_key")
    async with service.client.get("/v1/comments/c-1", headers={"Authorization": "Basic abc"}) as r:
        assert_error(r.status, await r.json(), 401)


async def test_revoked_key_is_refused_at_once(service: Service) -> None:
    from moderation.domain.models import Role
    from moderation.http.context import DATABASE
    from moderation.services.keys import Keys

    database = service.client.app[DATABASE]
    created = await Keys(database).create("temp", Role.site)
    headers = {"Authorization": f"Bearer {created.secret}"}
    async with service.client.get("/v1/comments/x", headers=headers) as response:
        assert response.status == 404
    await Keys(database).revoke(created.key.id)
    async with service.client.get("/v1/comments/x", headers=headers) as response:
        assert_error(response.status, await response.json(), 401, "invalid_key")


async def test_malformed_json(service: Service) -> None:
    status, body = await raw(service, "POST", "/v1/comments", b'{"id": "c-1", ')
    assert_error(status, body, 400, "malformed_json")
    status, body = await raw(service, "POST", "/v1/comments", b"")
    assert_error(status, body, 400, "malformed_json")
    status, body = await raw(service, "POST", "/v1/comments", b'{"a": NaN}')
    assert_error(status, body, 400, "malformed_json")


async def test_invalid_utf8(service: Service) -> None:
    status, body = await raw(service, "POST", "/v1/comments", b'{"text": "\xff\xfe"}')
    assert_error(status, body, 400, "invalid_utf8")


async def test_lone_surrogate_is_refused(service: Service) -> None:
    data = b'{"id": "c-s", "article_id": "a", "author_id": "u", "text": "bad \\ud800 text"}'
    status, body = await raw(service, "POST", "/v1/comments", data)
    assert_error(status, body, 400, "invalid_unicode")


async def test_nul_is_refused(service: Service) -> None:
    data = b'{"id": "c-n", "article_id": "a", "author_id": "u", "text": "nul \\u0000 here"}'
    status, body = await raw(service, "POST", "/v1/comments", data)
    assert_error(status, body, 422)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"article_id": "a", "author_id": "u", "text": "t"}, "id"),
        ({"id": "c", "article_id": "a", "author_id": "u"}, "text"),
        ({"id": 5, "article_id": "a", "author_id": "u", "text": "t"}, "id"),
        ({"id": "c", "article_id": "a", "author_id": "u", "text": ["t"]}, "text"),
        ({"id": "c", "article_id": "a", "author_id": "u", "text": "   "}, "text"),
        ({"id": "c", "article_id": "a", "author_id": "u", "text": "x" * 20_001}, "text"),
        ({"id": "c/../x", "article_id": "a", "author_id": "u", "text": "t"}, "id"),
        ({"id": "<script>", "article_id": "a", "author_id": "u", "text": "t"}, "id"),
        ({"id": "c", "article_id": "a", "author_id": "u", "text": "t", "metadata": []}, "metadata"),
        (
            {"id": "c", "article_id": "a", "author_id": "u", "text": "t", "article_tags": "war"},
            "article_tags",
        ),
    ],
)
async def test_validation_errors_name_the_field(
    service: Service, payload: dict[str, object], field: str
) -> None:
    status, body = await service.call("POST", "/v1/comments", json=payload)
    assert_error(status, body, 422, "validation_failed")
    assert isinstance(body, dict)
    assert any(d["field"].split(".")[0] == field for d in body["error"]["details"])


async def test_errors_never_echo_hostile_input(service: Service) -> None:
    hostile = "<img src=x onerror=alert(1)>"
    payload = {"id": hostile, "article_id": "a", "author_id": "u", "text": "t", hostile: 1}
    status, body = await service.call("POST", "/v1/comments", json=payload)
    assert status == 422
    assert "onerror" not in str(body)
    status, body = await service.call("GET", "/v1/comments/%3Cimg%20onerror%3D1%3E")
    assert status in (404, 422)
    assert "onerror" not in str(body)


async def test_body_wrong_shape(service: Service) -> None:
    status, body = await service.call("POST", "/v1/comments", json=["not", "an", "object"])
    assert_error(status, body, 422)
    status, body = await service.call("POST", "/v1/comments/batch", json={"comments": "x"})
    assert_error(status, body, 422)


async def test_oversized_body(make_service: object) -> None:
    service = await make_service(max_body_bytes=4096)  # type: ignore[operator]
    data = b'{"id": "c", "article_id": "a", "author_id": "u", "text": "' + b"x" * 8000 + b'"}'
    status, body = await raw(service, "POST", "/v1/comments", data)
    assert_error(status, body, 413, "body_too_large")


async def test_unknown_resources(service: Service) -> None:
    status, body = await service.call("GET", "/v1/comments/c-missing")
    assert_error(status, body, 404, "comment_not_found")
    status, body = await service.call(
        "POST", "/v1/comments/c-missing/reports", json={"reporter_id": "r"}
    )
    assert_error(status, body, 404)
    status, body = await service.call("GET", "/v1/nothing-here")
    assert_error(status, body, 404)
    status, body = await service.call("PATCH", "/v1/comments")
    assert_error(status, body, 405)


async def test_article_validation(service: Service) -> None:
    status, body = await service.call("PUT", "/v1/articles/a-1", json={"mode": "sometimes"})
    assert_error(status, body, 422)
    status, body = await service.call(
        "PUT", "/v1/articles/a-1", json={"url": "javascript:alert(1)"}
    )
    assert_error(status, body, 422)


async def test_rate_limit_gives_retry_after(make_service: object) -> None:
    service = await make_service(rate_limit_site=1.0)  # type: ignore[operator]
    statuses = []
    for _ in range(4):
        async with service.client.get("/v1/comments/x", headers=service.auth()) as response:
            statuses.append(response.status)
            if response.status == 429:
                assert int(response.headers["Retry-After"]) >= 1
                assert_error(429, await response.json(), 429, "rate_limited")
    assert statuses[:2] == [404, 404] and 429 in statuses


async def test_security_headers_and_request_id(service: Service) -> None:
    async with service.client.get("/healthz") as response:
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Request-Id"]


async def test_path_ids_are_whole_matches(service: Service) -> None:
    """``a-9%0A`` used to create article ``"a-9\\n"``: ``$`` matches before a final newline."""
    for path in ("/v1/articles/a-9%0A", "/v1/articles/a-9%0D%0A"):
        status, body = await service.call("PUT", path, json={"mode": "auto"})
        assert status == 422 and body["error"]["code"] == "invalid_id", (path, body)
    status, body = await service.call("GET", "/v1/comments/c-1%0A")
    assert status == 422 and body["error"]["code"] == "invalid_id"


async def test_dates_out_of_range_are_422_not_500(service: Service) -> None:
    status, current = await service.call("GET", "/v1/guidelines", role="admin")
    assert status == 200
    for since, until in (
        ("0001-01-01T00:00:00+14:00", None),
        (None, "9999-12-31T23:59:59-12:00"),
        ("0001-01-01", "9999-12-31"),
    ):
        window = {k: v for k, v in (("since", since), ("until", until)) if v is not None}
        status, body = await service.call(
            "POST", "/v1/guidelines/backtest", role="admin", json={"guidelines": current} | window
        )
        assert status == 422, body
        assert "between 1970 and 9998" in json.dumps(body)
        status, body = await service.call(
            "POST", "/v1/guidelines/suggest", role="admin", json=window
        )
        assert status == 422, body
    status, body = await service.call(
        "POST",
        "/v1/guidelines/backtest",
        role="admin",
        json={"guidelines": current, "since": "2026-01-01", "until": "2026-12-31T10:00:00+02:00"},
    )
    assert status == 200, body


async def _raw_request(service: Service, head: bytes) -> int:
    """The status of a request written byte for byte (a client library would refuse
    to send headers that are not ASCII)."""
    import asyncio

    server = service.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(head + b"Host: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize(
    "head",
    [
        b"GET /v1/comments/c-1 HTTP/1.1\r\nAuthorization: Bearer \xff\xfe\r\n",
        b"GET /v1/comments/c-1 HTTP/1.1\r\nAuthorization: Bearer \xed\xa0\x80\r\n",
        b"POST /v1alpha1/comments:analyze HTTP/1.1\r\nX-Goog-Api-Key: \xff\r\n",
    ],
)
async def test_a_key_that_is_not_utf8_is_refused_not_a_500(service: Service, head: bytes) -> None:
    status = await _raw_request(service, head)
    assert status in (400, 401), status


async def test_a_number_beyond_a_float_is_refused(service: Service) -> None:
    """``1e400`` is valid JSON but would be stored, and answered, as ``Infinity``."""
    data = (
        b'{"id": "c-f", "article_id": "a", "author_id": "u", "text": "t", "metadata": {"x": 1e400}}'
    )
    status, body = await raw(service, "POST", "/v1/comments", data)
    assert_error(status, body, 400, "malformed_json")
    data = (
        b'{"id": "c-f", "article_id": "a", "author_id": "u", "text": "t", "metadata": {"x": 1e300}}'
    )
    status, body = await raw(service, "POST", "/v1/comments", data)
    assert status == 201, body


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("DELETE", "/v1/webhooks/wh%00x", "validation_failed"),
        ("DELETE", "/v1/keys/k%00x", "validation_failed"),
        ("GET", "/v1/webhooks/wh%00x/deliveries", "validation_failed"),
        ("GET", "/v1/audit?cursor=a%00b", "validation_failed"),
        ("GET", "/v1/audit?a%00=b", "validation_failed"),
    ],
)
async def test_nul_in_the_url_is_refused_before_the_database(
    make_service: Any, database_url: str, method: str, path: str, code: str
) -> None:
    """PostgreSQL refuses NUL in text; the handlers must never hand it one."""
    service = await make_service(database_url=database_url)
    status, body = await service.call(method, path, role="admin")
    assert_error(status, body, 422, code)


async def test_nul_in_a_guidelines_note_is_refused(make_service: Any, database_url: str) -> None:
    service = await make_service(database_url=database_url)
    status, current = await service.call("GET", "/v1/guidelines", role="admin")
    assert status == 200
    status, body = await service.call(
        "PUT", "/v1/guidelines?note=a%00b", role="admin", json=current
    )
    assert_error(status, body, 422, "validation_failed")
    status, versions = await service.call("GET", "/v1/guidelines/versions", role="admin")
    assert [v["version"] for v in versions["items"]] == [current["version"]]


async def test_a_key_and_a_route_are_checked_before_the_urls_text(service: Service) -> None:
    """A caller without a key hears 401 and an unknown path 404, whatever the query holds."""
    async with service.client.get("/v1/queue?x=%00") as response:
        assert_error(response.status, await response.json(), 401, "missing_key")
    status, body = await service.call("GET", "/v1/nope?x=%00", role="admin")
    assert_error(status, body, 404)
    status, body = await service.call("GET", "/v1/queue?article_id=a%00", role="moderator")
    assert_error(status, body, 422, "validation_failed")


async def test_a_bad_query_string_is_named_as_such_and_no_class_is_named(
    service: Service,
) -> None:
    status, body = await service.call("GET", "/v1/queue?limit=abc", role="moderator")
    assert status == 422, body
    assert body["error"]["message"] == "the query string is not valid"
    assert body["error"]["details"][0]["field"] == "limit"
    status, body = await service.call("POST", "/v1/queue/claim", role="moderator", json=[])
    assert status == 422, body
    assert body["error"]["message"] == "the request body is not valid"
    assert body["error"]["details"] == [{"field": "(body)", "problem": "expected a JSON object"}]
    assert "ClaimIn" not in str(body)


async def test_a_queue_filter_on_an_unknown_category_is_refused(service: Service) -> None:
    """It would match nothing, and the moderator would read an empty queue as done."""
    status, body = await service.call("GET", "/v1/queue?category=bogus", role="moderator")
    assert status == 422, body
    assert body["error"]["details"][0]["field"] == "category"
    assert "bogus" not in str(body)
    status, body = await service.call("GET", "/v1/queue?category=threat", role="moderator")
    assert status == 200, body
