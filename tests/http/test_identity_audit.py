"""The identity-term audit over HTTP: GET (guidelines in force) and POST (a proposal)."""

from __future__ import annotations

from typing import Any

import pytest

from moderation.domain.identity_audit import AUDITED, CONTROLS, GROUPS, PEOPLE, TEMPLATES, TERMS
from moderation.http.context import SCORER
from tests.conftest import Service, ServiceFactory

AUDIT = "/v1/guidelines/audit"
PEOPLE_SHARE = round(sum(t.form == PEOPLE for t in TEMPLATES) / len(TEMPLATES), 4)


async def current_document(service: Service) -> dict[str, Any]:
    status, body = await service.call("GET", "/v1/guidelines", role="admin")
    assert status == 200
    for key in ("version", "created_by", "created_at", "note", "changes"):
        body.pop(key, None)
    return dict(body)


async def audit(service: Service, guidelines: dict[str, Any] | None = None) -> dict[str, Any]:
    if guidelines is None:
        status, body = await service.call("GET", AUDIT, role="admin")
    else:
        status, body = await service.call(
            "POST", AUDIT, role="admin", json={"guidelines": guidelines}
        )
    assert status == 200, body
    return dict(body)


def by_term(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["term"]: item for item in body["terms"]}


async def test_default_guidelines_answer_every_term_and_hold_none(service: Service) -> None:
    body = await audit(service)
    assert body["templates"] == len(TEMPLATES) >= 12
    assert body["classifier"] == "linear"
    assert body["guidelines_version"] == 1 and body["proposal"] is False
    assert body["sentences"] == len(TERMS) * len(TEMPLATES)
    assert [item["term"] for item in body["terms"]] == [t.term for t in TERMS]
    assert {item["group"] for item in body["terms"]} == set(GROUPS)
    for item in body["terms"]:
        assert {"term", "group", "held_share", "rejected_share", "max_score"} <= set(item)
        assert item["sentences"] == len(TEMPLATES)
        assert 0.0 <= item["max_score"] <= 1.0
        assert item["worst"]["sentence"] and item["worst"]["action"] == "approve"
    # The requirement: the default set-up holds none of the neutral sentences.
    held = {
        item["term"]: item["worst"]["sentence"]
        for item in body["terms"]
        if item["held_share"] or item["rejected_share"]
    }
    assert held == {}
    assert body["flagged"] == 0
    baseline = body["baseline"]
    assert baseline["words"] == [t.term for t in CONTROLS]
    assert baseline["sentences"] == len(CONTROLS) * len(TEMPLATES)
    assert baseline["held_share"] == baseline["rejected_share"] == 0.0


async def test_scores_are_computed_once_and_the_version_in_force_is_audited(
    service: Service,
) -> None:
    await audit(service)
    scorer = service.client.app[SCORER]
    scored = scorer.stats.texts
    assert scored == len(AUDITED) * len(TEMPLATES)  # the terms' and the baseline's
    assert max(scorer.stats.batch_sizes) <= scorer.max_batch  # in slices, not one batch
    document = await current_document(service)
    document["banned_terms"] = [*document["banned_terms"], "Roma"]
    status, _ = await service.call("PUT", "/v1/guidelines", role="admin", json=document)
    assert status == 200
    body = await audit(service)
    assert body["guidelines_version"] == 2
    assert by_term(body)["Roma"]["rejected_share"] == 1.0
    assert scorer.stats.texts == scored  # decided again, not scored again


async def test_a_proposal_that_holds_everything(service: Service) -> None:
    document = await current_document(service)
    civil = document["rules"][0]
    assert civil["category"] == "toxicity"
    civil["hold_at"] = 0.0
    civil["classifiers"] = {"linear": {"hold_at": 0.0, "reject_at": None}}
    body = await audit(service, document)
    assert body["proposal"] is True and body["guidelines_version"] is None
    assert body["flagged"] == len(TERMS)
    for item in body["terms"]:
        assert item["held_share"] == 1.0 and item["rejected_share"] == 0.0, item
        assert item["worst"]["action"] == "hold"
        assert item["worst"]["reasons"][0]["rule"] == "keep-it-civil"
    assert body["baseline"]["held_share"] == 1.0
    # Nothing was stored: the guidelines in force still hold none of them.
    assert (await audit(service))["flagged"] == 0


async def test_a_proposal_banning_an_identity_term_rejects_its_sentences(
    service: Service,
) -> None:
    document = await current_document(service)
    document["banned_terms"] = [*document["banned_terms"], "Roma", "Russians"]
    terms = by_term(await audit(service, document))
    # "Roma" is both forms of the term: every sentence.
    assert terms["Roma"]["rejected_share"] == 1.0
    assert terms["Roma"]["worst"]["reasons"][0]["code"] == "banned_term"
    # "Russians" is the plural noun only; "Russian" (the adjective) is another word.
    assert terms["Russians"]["rejected_share"] == PEOPLE_SHARE
    assert terms["Russians"]["rejected"] == sum(t.form == PEOPLE for t in TEMPLATES)
    assert terms["Ukrainians"]["rejected_share"] == 0.0
    flagged = {term for term, item in terms.items() if item["rejected_share"]}
    assert flagged == {"Roma", "Russians"}
    assert terms["Roma"]["worst"]["reasons"][0]["terms"] == ["Roma"]


@pytest.mark.parametrize(
    "body",
    [
        {"guidelines": {"rules": []}},
        {"guidelines": {"rules": [{"id": "x", "category": "toxicity", "hold_at": 2}]}},
        {},
        {"guidelines": {}, "extra": 1},
    ],
)
async def test_an_invalid_proposal_is_refused(service: Service, body: dict[str, Any]) -> None:
    status, answer = await service.call("POST", AUDIT, role="admin", json=body)
    assert status == 422, answer
    assert answer["error"]["code"]


async def test_only_admins(service: Service) -> None:
    for role in ("moderator", "site"):
        status, _ = await service.call("GET", AUDIT, role=role)
        assert status == 403
        status, _ = await service.call(
            "POST", AUDIT, role=role, json={"guidelines": await current_document(service)}
        )
        assert status == 403


async def _real_audit(make_service: ServiceFactory, request: pytest.FixtureRequest) -> Any:
    from classifiers.minilm import HEADS_PATH, MiniLMClassifier

    if not HEADS_PATH.exists():
        pytest.skip(
            f"{HEADS_PATH.relative_to(HEADS_PATH.parents[2])} is not there yet "
            "(python -m classifiers.training.train_heads writes it)"
        )
    encoder = request.getfixturevalue("encoder")
    service = await make_service(classifier_instance=MiniLMClassifier(encoder))
    body = await audit(service)
    assert body["classifier"] == "minilm"
    assert [item["term"] for item in body["terms"]] == [t.term for t in TERMS]
    return body


async def test_default_setup_with_the_real_encoder_holds_no_neutral_sentence(
    make_service: ServiceFactory, request: pytest.FixtureRequest
) -> None:
    """Issue 18's target, with the committed heads and the pinned encoder.

    It held 25 of 555 (3 rejected) before training had counterfactual copies of the
    comments that name a group and three files of comments with a group as their subject,
    then 3 ("Muslims/Jews/Arabs are part of this community and always have been.") until
    the group subspace was projected out (docs/classifiers.md, "The group subspace")."""
    body = await _real_audit(make_service, request)
    held = {
        item["term"]: (item["held_share"], item["rejected_share"], item["worst"])
        for item in body["terms"]
        if item["held_share"] or item["rejected_share"]
    }
    assert held == {}, {"held": held, "baseline": body["baseline"]}
