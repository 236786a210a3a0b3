"""Transparency reports (EU DSA Art. 15, 24): the figures of a period, and its statements of
reasons as NDJSON, on a small known set of decisions, notices and appeals."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import Service, ServiceFactory
from tests.http.test_appeals import answer, appeal
from tests.http.test_notices import notify
from tests.http.test_statements import decide


def period(hours: int = 1) -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "from": (now - timedelta(hours=hours)).isoformat(),
        "to": (now + timedelta(hours=hours)).isoformat(),
    }


async def known_set(service: Service) -> None:
    # An automatic rejection (fully automated), later appealed and upheld.
    _, bad = await service.post_comment(id="c-bad", text="Go away, you faggot.")
    assert bad["status"] == "rejected"
    # An automatic hold (fully automated), confirmed by a moderator (partly automated).
    _, held = await service.post_comment(id="c-held", text="you are an idiot")
    assert held["status"] == "pending"
    assert (await decide(service, "c-held", action="reject"))[0] == 200
    # An approved comment rejected by a moderator as illegal (not automated); appealed and
    # reversed by another moderator.
    await service.post_comment(id="c-ok", text="A calm remark.")
    status, _ = await decide(
        service, "c-ok", action="reject", ground="illegal", legal_ground="Criminal Code, s. 185"
    )
    assert status == 200
    # A notice: held automatically (fully), then approved by a moderator (no statement).
    await service.post_comment(id="c-noticed", text="Another calm remark.")
    assert (await notify(service, "c-noticed", category="STATEMENT_CATEGORY_VIOLENCE"))[0] == 202
    assert (await decide(service, "c-noticed", action="approve"))[0] == 200
    _, upheld = await appeal(service, "c-bad")
    assert (await answer(service, upheld["id"], "upheld", role="moderator"))[0] == 200
    _, reversed_ = await appeal(service, "c-ok")
    assert (await answer(service, reversed_["id"], "reversed"))[0] == 200


async def test_the_report_counts_a_known_set(service: Service) -> None:
    await known_set(service)
    status, report = await service.call(
        "GET", "/v1/transparency/report", role="admin", params=period()
    )
    assert status == 200, report
    notices = report["notices"]
    assert notices["total"] == 1
    assert notices["by_category"] == {"STATEMENT_CATEGORY_VIOLENCE": 1}
    assert 0 <= notices["median_hours_to_action"] < 1
    assert report["decisions"] == {
        "total": 5,
        "by_ground": {"guidelines": 4, "illegal": 1},
        "automated": {"fully": 3, "partially": 1, "not": 1},
    }
    appeals = report["appeals"]
    assert (appeals["received"], appeals["upheld"], appeals["reversed"]) == (2, 1, 1)
    assert 0 <= appeals["median_hours_to_decision"] < 1
    # After automatic decisions, moderators confirmed the hold of c-held (agreed), rejected
    # the approved c-ok and approved the noticed hold of c-noticed (not agreed).
    assert report["automated_accuracy"] == {"decided_by_moderators_after_auto": 3, "agreed": 1}
    # Another period: nothing.
    status, empty = await service.call(
        "GET",
        "/v1/transparency/report",
        role="admin",
        params={"from": "2020-01-01", "to": "2020-02-01"},
    )
    assert status == 200
    assert empty["notices"] == {"total": 0, "by_category": {}, "median_hours_to_action": None}
    assert empty["decisions"]["total"] == 0
    assert empty["appeals"]["median_hours_to_decision"] is None
    assert empty["from"] == "2020-01-01T00:00:00.000Z"


async def test_statements_stream_as_ndjson(service: Service) -> None:
    await known_set(service)
    async with service.client.get(
        "/v1/transparency/statements", params=period(), headers=service.auth("admin")
    ) as response:
        assert response.status == 200
        assert response.content_type == "application/x-ndjson"
        text = await response.text()
    assert text.endswith("\n")
    lines: list[dict[str, Any]] = [json.loads(line) for line in text.splitlines()]
    assert [(line["puid"], line["decision_visibility"][0]) for line in lines] == [
        ("c-bad", "DECISION_VISIBILITY_CONTENT_REMOVED"),
        ("c-held", "DECISION_VISIBILITY_CONTENT_DISABLED"),
        ("c-held", "DECISION_VISIBILITY_CONTENT_REMOVED"),
        ("c-ok", "DECISION_VISIBILITY_CONTENT_REMOVED"),
        ("c-noticed", "DECISION_VISIBILITY_CONTENT_DISABLED"),
    ]
    for line in lines:
        assert line["application_date"].endswith("Z")
        assert {"decision_ground", "category", "automated_decision", "source_type"} <= set(line)
    assert lines[3]["illegal_content_legal_ground"] == "Criminal Code, s. 185"
    assert lines[4]["source_type"] == "SOURCE_ARTICLE_16"
    async with service.client.get(
        "/v1/transparency/statements",
        params={"from": "2020-01-01", "to": "2020-02-01"},
        headers=service.auth("admin"),
    ) as response:
        assert response.status == 200 and await response.text() == ""


async def test_periods_are_validated_and_admins_only(service: Service) -> None:
    for path in ("/v1/transparency/report", "/v1/transparency/statements"):
        for params in (
            {"from": "yesterday", "to": "2026-01-01"},
            {"from": "2026-02-01", "to": "2026-01-01"},
            {"from": "2026-01-01", "to": "2026-01-01"},
            {"to": "2026-01-01"},
            {"from": "0001-01-01", "to": "2026-01-01"},
        ):
            status, body = await service.call("GET", path, role="admin", params=params)
            assert status == 422, (path, params, body)
            assert body["error"]["code"] == "validation_failed"
        status, _ = await service.call("GET", path, role="moderator", params=period())
        assert status == 403
    # A date-time with a zone, and a bare date, are both accepted.
    status, _ = await service.call(
        "GET",
        "/v1/transparency/report",
        role="admin",
        params={"from": "2026-01-01T00:00:00+02:00", "to": "2026-02-01"},
    )
    assert status == 200


async def test_on_both_backends(make_service: ServiceFactory, database_url: str) -> None:
    service = await make_service(database_url=database_url)
    await known_set(service)
    status, report = await service.call(
        "GET", "/v1/transparency/report", role="admin", params=period()
    )
    assert status == 200, report
    assert report["decisions"]["automated"] == {"fully": 3, "partially": 1, "not": 1}
    assert report["automated_accuracy"] == {"decided_by_moderators_after_auto": 3, "agreed": 1}
    assert report["appeals"]["received"] == 2
    async with service.client.get(
        "/v1/transparency/statements", params=period(), headers=service.auth("admin")
    ) as response:
        assert len((await response.text()).splitlines()) == 5
    # An appeal on a rejected comment is queued on this backend too.
    await service.post_comment(id="c-late", text="A calm remark.")
    await decide(service, "c-late", action="reject")
    status, _ = await appeal(service, "c-late")
    assert status == 201
    status, listed = await service.call("GET", "/v1/queue?reason=appeal", role="moderator")
    assert [item["id"] for item in listed["items"]] == ["c-late"]
