"""Every list answers in one envelope, ``{"items", "next_cursor"}``, and pages by cursor."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Service


async def _walk(service: Service, path: str, limit: int) -> list[dict[str, Any]]:
    """Every item of a list, following next_cursor page by page."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(50):
        query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        status, body = await service.call("GET", path + query, role="admin")
        assert status == 200, body
        assert set(body) >= {"items", "next_cursor"}
        assert len(body["items"]) <= limit
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the cursor never ended")


async def test_keys_page_by_cursor_without_repeats_or_gaps(service: Service) -> None:
    for n in range(7):
        status, _ = await service.call(
            "POST", "/v1/keys", role="admin", json={"name": f"k{n}", "role": "site"}
        )
        assert status == 201
    everything = await _walk(service, "/v1/keys", 500)
    paged = await _walk(service, "/v1/keys", 2)
    assert [k["id"] for k in paged] == [k["id"] for k in everything]
    assert len(everything) == 3 + 7  # the fixture's three keys and ours


async def test_audit_pages_newest_first(service: Service) -> None:
    for n in range(5):
        await service.call("POST", "/v1/keys", role="admin", json={"name": f"a{n}", "role": "site"})
    entries = await _walk(service, "/v1/audit", 2)
    ids = [e["id"] for e in entries]
    assert ids == sorted(ids, reverse=True) and len(ids) == len(set(ids))


async def test_versions_page_and_keep_their_changes(service: Service) -> None:
    status, current = await service.call("GET", "/v1/guidelines", role="admin")
    for hold in (0.5, 0.45, 0.4):
        current["rules"][0]["hold_at"] = hold
        status, _ = await service.call("PUT", "/v1/guidelines", role="admin", json=current)
        assert status == 200
    versions = await _walk(service, "/v1/guidelines/versions", 1)
    assert [v["version"] for v in versions] == [1, 2, 3, 4]
    # The first item of a later page still knows what changed from the page before.
    assert versions[3]["changes"][0]["to"] == 0.4


async def test_webhooks_and_deliveries_use_the_envelope(service: Service) -> None:
    status, created = await service.call(
        "POST",
        "/v1/webhooks",
        role="admin",
        json={"url": "http://127.0.0.1:9/hook", "events": ["comment.held"]},
    )
    assert status == 201
    hooks = await _walk(service, "/v1/webhooks", 1)
    assert [h["id"] for h in hooks] == [created["id"]]
    assert await _walk(service, f"/v1/webhooks/{created['id']}/deliveries", 5) == []


@pytest.mark.parametrize("cursor", ["%%%", "bm90IGpzb24", "WyJ4Il0", "W10", "WzFd"])
async def test_a_cursor_we_did_not_give_is_a_422(service: Service, cursor: str) -> None:
    for path in ("/v1/keys", "/v1/audit", "/v1/guidelines/versions", "/v1/comments"):
        status, body = await service.call("GET", f"{path}?cursor={cursor}", role="admin")
        assert status == 422, (path, body)
        assert body["error"]["code"] in {"invalid_cursor", "validation_failed"}


def _cursor(*values: str) -> str:
    """A cursor as a client could forge it: the service's encoding of any values."""
    from moderation.http.pagination import encode_cursor

    return encode_cursor(values)


@pytest.mark.parametrize(
    ("path", "cursor"),
    [
        # beyond the integer columns (an OverflowError in the driver, before)
        ("/v1/audit", _cursor("9" * 30)),
        ("/v1/guidelines/versions", _cursor(str(2**31))),
        # an instant before year 1 or after 9999 once in UTC
        ("/v1/keys", _cursor("0001-01-01T00:00:00+01:00", "x")),
        ("/v1/comments", _cursor("9999-12-31T23:59:59-01:00", "x")),
        ("/v1/webhooks", _cursor("0001-01-01T00:00:00+14:00", "x")),
        # not text the database can hold
        ("/v1/keys", _cursor("2020-01-01T00:00:00", "\ud800")),
        ("/v1/comments", _cursor("2020-01-01T00:00:00", "a\x00b")),
    ],
)
async def test_a_forged_cursor_is_a_422_not_a_500(
    make_service: Any, database_url: str, path: str, cursor: str
) -> None:
    service = await make_service(database_url=database_url)
    status, body = await service.call("GET", f"{path}?cursor={cursor}", role="admin")
    assert status == 422, body
    assert body["error"]["code"] == "invalid_cursor"
