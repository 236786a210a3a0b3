"""The cascade: the fast model decides what it is sure of; each decision names its model."""

from __future__ import annotations

from collections.abc import Sequence

from classifiers.base import Scores
from classifiers.cascade import Cascade
from classifiers.linear import LinearClassifier
from tests.conftest import ServiceFactory


class Transformer:
    """Stands in for the slow model: sure that everything is mildly toxic."""

    name = "detoxify:original"
    categories = ("toxicity", "threat")

    def __init__(self) -> None:
        self.seen: list[str] = []

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        self.seen.extend(texts)
        return [{"toxicity": 0.85, "threat": 0.1} for _ in texts]


async def test_cascade_routes_and_names_the_classifier(make_service: ServiceFactory) -> None:
    slow = Transformer()
    service = await make_service(classifier_instance=Cascade(LinearClassifier(), slow))
    async with service.client.get("/healthz") as response:
        assert (await response.json())["classifier"] == "cascade:linear>detoxify:original"
    _, calm = await service.post_comment(text="Thank you for this careful report on the war.")
    assert calm["decision"]["classifier"] == "linear"  # sure: the transformer never ran
    assert calm["status"] == "approved"
    _, rude = await service.post_comment(text="you are an idiot")
    assert rude["decision"]["classifier"] == "detoxify:original"
    assert rude["status"] == "pending"  # detoxify thresholds: toxicity 0.85 >= hold 0.8
    assert slow.seen == ["you are an idiot"]


async def test_the_cascade_setting_builds_the_cascade(make_service: ServiceFactory) -> None:
    # MODERATION_CASCADE=linear in front of the configured (here injected) slow model.
    slow = Transformer()
    service = await make_service(classifier_instance=slow, cascade="linear")
    async with service.client.get("/healthz") as response:
        assert (await response.json())["classifier"] == "cascade:linear>detoxify:original"
    _, calm = await service.post_comment(text="Thank you for this careful report on the war.")
    assert calm["decision"]["classifier"] == "linear"
    assert slow.seen == []


async def test_the_cascade_threshold_setting_is_honoured(make_service: ServiceFactory) -> None:
    # MODERATION_CASCADE_SURE_BELOW=0: the fast model is never sure, the slow one decides.
    slow = Transformer()
    service = await make_service(classifier_instance=slow, cascade="linear", cascade_sure_below=0.0)
    text = "Thank you for this careful report on the war."
    _, calm = await service.post_comment(text=text)
    assert calm["decision"]["classifier"] == "detoxify:original"
    assert slow.seen == [text]


async def test_without_the_setting_there_is_no_cascade(make_service: ServiceFactory) -> None:
    service = await make_service(classifier_instance=Transformer())
    async with service.client.get("/healthz") as response:
        assert (await response.json())["classifier"] == "detoxify:original"
