"""End to end through the Detoxify path: real loading code, a trained tiny checkpoint, HTTP."""

from __future__ import annotations

from tests.conftest import ServiceFactory
from tests.tiny_detoxify import TinyDetoxify


async def test_toxic_rejected_benign_approved(
    make_service: ServiceFactory, tiny_detoxify: TinyDetoxify
) -> None:
    service = await make_service(
        classifier="detoxify:original,linear",
        detoxify_checkpoint=tiny_detoxify.checkpoint,
        detoxify_config=tiny_detoxify.config_dir,
    )
    async with service.client.get("/healthz") as response:
        health = await response.json()
    assert health["classifier"] == "detoxify:original"
    assert health["classifier_fallbacks"] == []

    status, toxic = await service.post_comment(text="you are an idiot")
    assert status == 201
    assert toxic["decision"]["classifier"] == "detoxify:original"
    assert toxic["status"] == "rejected"
    assert "toxicity" in {r["category"] for r in toxic["decision"]["reasons"]}
    assert set(toxic["decision"]["scores"]) >= {"toxicity", "insult", "threat"}

    status, benign = await service.post_comment(
        text="Thank you for this thoughtful article about the war."
    )
    assert status == 201
    assert benign["status"] == "approved", benign["decision"]["reasons"]

    # the article's violent language, quoted, is not a threat
    status, quoted = await service.post_comment(
        text="The article says the soldiers were shot while retreating."
    )
    assert quoted["status"] == "approved", quoted["decision"]["reasons"]

    # the batch endpoint feeds the same scorer
    status, body = await service.call(
        "POST",
        "/v1/comments/batch",
        json={
            "comments": [
                {"id": "b-1", "article_id": "a", "author_id": "u", "text": "I will kill you"},
                {
                    "id": "b-2",
                    "article_id": "a",
                    "author_id": "u",
                    "text": "A careful and fair report.",
                },
            ]
        },
    )
    assert [r["decision"]["action"] for r in body["results"]][1] == "approve"
    assert body["results"][0]["decision"]["action"] in {"hold", "reject"}
