"""Shadow mode: a proposal decides beside the live guidelines; the live decision never changes."""

from __future__ import annotations

from collections.abc import Sequence

from classifiers.base import Scores
from tests.conftest import Service, ServiceFactory


async def test_shadow_run_records_disagreements_without_changing_live(service: Service) -> None:
    status, _body = await service.call("GET", "/v1/guidelines/shadow", role="admin")
    assert status == 404
    _, current = await service.call("GET", "/v1/guidelines", role="admin")
    proposal = dict(current)
    proposal["rules"][0]["classifiers"]["linear"] = {"hold_at": 0.5, "reject_at": 0.9}
    status, run = await service.call(
        "PUT",
        "/v1/guidelines/shadow",
        role="admin",
        json={"guidelines": proposal, "note": "stricter"},
    )
    assert status == 201 and run["active"] is True

    _, toxic = await service.post_comment(id="c-1", text="you are an idiot")
    _, calm = await service.post_comment(id="c-2", text="A calm and thoughtful remark.")
    assert toxic["status"] == "pending"  # live guidelines: hold at 0.9, never reject
    assert toxic["decision"]["guidelines_version"] == 1
    assert calm["status"] == "approved"

    status, report = await service.call("GET", "/v1/guidelines/shadow", role="admin")
    assert status == 200
    assert report["total"] == 2
    assert report["matrix"]["hold"]["reject"] == 1
    assert report["matrix"]["approve"]["approve"] == 1
    assert report["disagreements"] == 1
    (sample,) = report["samples"]
    assert (sample["comment_id"], sample["live"], sample["shadow"]) == ("c-1", "hold", "reject")
    assert sample["shadow_reasons"][0]["rule"] == "keep-it-civil"

    status, _ = await service.call("DELETE", "/v1/guidelines/shadow", role="admin")
    assert status == 200
    await service.post_comment(id="c-3", text="you are an idiot")
    _, report = await service.call("GET", "/v1/guidelines/shadow", role="admin")
    assert report["active"] is False and report["total"] == 2
    status, _ = await service.call("DELETE", "/v1/guidelines/shadow", role="admin")
    assert status == 404


async def test_shadow_rejects_invalid_guidelines(service: Service) -> None:
    status, _body = await service.call(
        "PUT", "/v1/guidelines/shadow", role="admin", json={"guidelines": {"rules": []}}
    )
    assert status == 422
    status, _ = await service.call(
        "PUT", "/v1/guidelines/shadow", role="moderator", json={"guidelines": {}}
    )
    assert status == 403


class Alarmist:
    """A second classifier that finds everything toxic."""

    name = "alarmist"
    categories = ("toxicity",)

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        return [{"toxicity": 0.99} for _ in texts]


async def test_shadow_classifier_scores_beside_the_live_one(make_service: ServiceFactory) -> None:
    service = await make_service(shadow_classifier_instance=Alarmist())
    _, current = await service.call("GET", "/v1/guidelines", role="admin")
    status, _ = await service.call(
        "PUT",
        "/v1/guidelines/shadow",
        role="admin",
        json={"guidelines": current, "note": "same rules, new model"},
    )
    assert status == 201
    _, calm = await service.post_comment(id="c-1", text="A calm and thoughtful remark.")
    assert calm["status"] == "approved"  # the live classifier decides
    assert calm["decision"]["classifier"] == "linear"
    _, report = await service.call("GET", "/v1/guidelines/shadow", role="admin")
    assert report["matrix"]["approve"]["reject"] == 1  # plain 0.97 reject applies to "alarmist"
    assert report["samples"][0]["shadow_classifier"] == "alarmist"


async def test_the_shadow_classifier_setting_loads_one(make_service: ServiceFactory) -> None:
    # MODERATION_SHADOW_CLASSIFIER=linear, beside a live model that is not linear.
    service = await make_service(classifier_instance=Alarmist(), shadow_classifier="linear")
    _, current = await service.call("GET", "/v1/guidelines", role="admin")
    status, _ = await service.call(
        "PUT",
        "/v1/guidelines/shadow",
        role="admin",
        json={"guidelines": current, "note": "same rules, linear model"},
    )
    assert status == 201
    _, live = await service.post_comment(id="c-1", text="A calm and thoughtful remark.")
    assert live["decision"]["classifier"] == "alarmist"
    _, report = await service.call("GET", "/v1/guidelines/shadow", role="admin")
    assert report["samples"][0]["shadow_classifier"] == "linear"
    assert report["matrix"]["reject"]["approve"] == 1  # linear finds the remark calm
