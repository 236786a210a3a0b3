"""Admins over HTTP: guideline versions, validation, restore, backtest, suggest, keys, audit."""

from __future__ import annotations

from typing import Any

import pytest

from moderation.http.context import RATE_LIMITER
from tests.conftest import Service


async def current(service: Service) -> dict[str, Any]:
    status, body = await service.call("GET", "/v1/guidelines", role="admin")
    assert status == 200
    return dict(body)


async def test_get_put_round_trip_and_versions(service: Service) -> None:
    first = await current(service)
    assert first["version"] == 1 and first["created_by"] == "system"
    first["rules"][2]["hold_at"] = 0.35
    status, second = await service.call(
        "PUT", "/v1/guidelines?note=earlier+threats", role="admin", json=first
    )
    assert status == 200, second
    assert second["version"] == 2 and second["created_by"] == "test-admin"
    assert second["note"] == "earlier threats"
    assert second["changes"] == [
        {"path": "rules.no-threats.hold_at", "change": "changed", "from": 0.4, "to": 0.35}
    ]
    status, history = await service.call("GET", "/v1/guidelines/versions", role="admin")
    assert [v["version"] for v in history["items"]] == [1, 2]
    assert history["items"][1]["changes"][0]["path"] == "rules.no-threats.hold_at"
    status, restored = await service.call("POST", "/v1/guidelines/versions/1/restore", role="admin")
    assert restored["version"] == 3
    assert restored["rules"][2]["hold_at"] == 0.4
    assert restored["note"] == "restored version 1"
    status, old = await service.call("GET", "/v1/guidelines/versions/2", role="admin")
    assert old["rules"][2]["hold_at"] == 0.35
    status, _ = await service.call("GET", "/v1/guidelines/versions/99", role="admin")
    assert status == 404
    for bad in ("x", "%C2%B3", "%D9%A3", "-1", "1234567890"):
        status, _ = await service.call("GET", f"/v1/guidelines/versions/{bad}", role="admin")
        assert status == 422, bad
        status, _ = await service.call(
            "POST", f"/v1/guidelines/versions/{bad}/restore", role="admin"
        )
        assert status == 422, bad
    _, audit = await service.call("GET", "/v1/audit?action=guidelines.update", role="admin")
    assert [e["target"] for e in audit["items"]] == ["3", "2"]


async def test_new_version_is_in_force_for_the_next_comment(service: Service) -> None:
    _, before = await service.post_comment(text="you are an idiot")
    assert before["status"] == "pending"
    document = await current(service)
    document["rules"][0]["classifiers"]["linear"] = {"hold_at": 0.5, "reject_at": 0.9}
    await service.call("PUT", "/v1/guidelines", role="admin", json=document)
    _, after = await service.post_comment(text="you are an idiot")
    assert after["status"] == "rejected"
    assert after["decision"]["guidelines_version"] == 2


async def test_invalid_guidelines_change_nothing(service: Service) -> None:
    document = await current(service)
    document["rules"][0]["hold_at"] = 0.99  # above reject_at 0.97
    document["rules"][1]["category"] = "rudeness"
    status, body = await service.call("PUT", "/v1/guidelines", role="admin", json=document)
    assert status == 422
    fields = {d["field"] for d in body["error"]["details"]}
    assert {"rules.0", "rules.1.category"} <= fields
    assert (await current(service))["version"] == 1
    status, body = await service.call("PUT", "/v1/guidelines", role="admin", json=[1, 2])
    assert status == 422


async def test_backtest_and_suggest(service: Service) -> None:
    for i in range(4):
        await service.post_comment(id=f"t-{i}", text="you are an idiot")
    await service.post_comment(id="ok", text="A calm remark.")
    await service.call(
        "POST", "/v1/comments/t-0/decision", role="moderator", json={"action": "reject"}
    )
    document = await current(service)
    document["rules"][0]["classifiers"]["linear"] = {"hold_at": 0.5, "reject_at": 0.9}
    status, result = await service.call(
        "POST", "/v1/guidelines/backtest", role="admin", json={"guidelines": document}
    )
    assert status == 200, result
    assert result["total"] == 5
    assert result["matrix"]["hold"]["reject"] == 4
    assert result["matrix"]["approve"]["approve"] == 1
    assert result["changed"] == 4
    assert result["moderators"]["evidence"] == 1
    status, result = await service.call(
        "POST", "/v1/guidelines/backtest", role="admin", json={"guidelines": {"rules": []}}
    )
    assert status == 422
    status, suggestion = await service.call(
        "POST",
        "/v1/guidelines/suggest",
        role="admin",
        json={"target_precision": 0.9, "min_evidence": 1},
    )
    assert status == 200
    assert suggestion["classifier"] == "linear"
    assert suggestion["suggestions"][0]["category"] == "toxicity"


async def test_keys_listing_never_shows_secrets(service: Service) -> None:
    status, created = await service.call(
        "POST", "/v1/keys", role="admin", json={"name": "www2", "role": "site"}
    )
    assert status == 201 and created["key"].startswith("site_")
    _, listing = await service.call("GET", "/v1/keys", role="admin")
    names = {k["name"] for k in listing["items"]}
    assert {"www2", "test-site", "test-moderator", "test-admin"} <= names
    assert all("key" not in k and "key_hash" not in k for k in listing["items"])
    used = {k["name"]: k["last_used_at"] for k in listing["items"]}
    assert used["test-admin"] is not None
    status, _ = await service.call("DELETE", f"/v1/keys/{created['id']}", role="admin")
    assert status == 200
    async with service.client.get(
        "/v1/comments/x", headers={"Authorization": f"Bearer {created['key']}"}
    ) as r:
        assert r.status == 401
    status, _ = await service.call("DELETE", f"/v1/keys/{created['id']}", role="admin")
    assert status == 404
    status, _body = await service.call(
        "POST", "/v1/keys", role="admin", json={"name": "x", "role": "owner"}
    )
    assert status == 422
    _, audit = await service.call("GET", "/v1/audit", role="admin")
    actions = [e["action"] for e in audit["items"]]
    assert "key.revoke" in actions and "key.create" in actions


async def test_a_key_can_have_its_own_rate_limit(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stopped clock: the bucket cannot refill between the four requests however slow
    # the machine is, so the 3rd and 4th are refused on the burst alone.
    monkeypatch.setattr(service.client.app[RATE_LIMITER], "_clock", lambda: 0.0)
    status, slow = await service.call(
        "POST", "/v1/keys", role="admin", json={"name": "slow", "role": "site", "rate_limit": 1}
    )
    assert status == 201 and slow["rate_limit"] == 1
    _, listing = await service.call("GET", "/v1/keys", role="admin")
    limits = {k["name"]: k["rate_limit"] for k in listing["items"]}
    assert limits["slow"] == 1 and limits["test-site"] is None  # None: the role's default
    statuses = []
    for _ in range(4):
        async with service.client.get(
            "/v1/comments/x", headers={"Authorization": f"Bearer {slow['key']}"}
        ) as response:
            statuses.append(response.status)
    assert statuses[:2] == [404, 404] and statuses[2:] == [429, 429]
    # The site's ordinary key is not slowed by it.
    status, _ = await service.call("GET", "/v1/comments/x")
    assert status == 404
    for bad in (-1, "fast", 1e9):
        status, body = await service.call(
            "POST", "/v1/keys", role="admin", json={"name": "x", "role": "site", "rate_limit": bad}
        )
        assert status == 422, bad
        assert body["error"]["code"] == "validation_failed"
    status, body = await service.call(  # Infinity is not JSON at all
        "POST", "/v1/keys", role="admin", json={"name": "x", "role": "site", "rate_limit": 1e999}
    )
    assert status == 400


async def test_key_names_are_unique_per_role(service: Service) -> None:
    status, first = await service.call(
        "POST", "/v1/keys", role="admin", json={"name": "coral", "role": "site"}
    )
    assert status == 201, first
    status, body = await service.call(
        "POST", "/v1/keys", role="admin", json={"name": "coral", "role": "site"}
    )
    assert status == 409 and body["error"]["code"] == "key_name_taken", body
    status, _ = await service.call(
        "POST", "/v1/keys", role="admin", json={"name": "coral", "role": "moderator"}
    )
    assert status == 201  # another role may use the name
    status, _ = await service.call("DELETE", f"/v1/keys/{first['id']}", role="admin")
    assert status in (200, 204)
    status, _ = await service.call(
        "POST", "/v1/keys", role="admin", json={"name": "coral", "role": "site"}
    )
    assert status == 201  # a revoked key's name is free again (its id stays in the records)
