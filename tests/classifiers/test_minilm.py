"""The ``minilm`` classifier: its committed heads, what they score, deterministic
training, and the thresholds' search."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy
import pytest

from classifiers.base import CATEGORIES, Classifier, ClassifierLoadError
from classifiers.encoder import SentenceEncoder
from classifiers.linear import LinearClassifier
from classifiers.minilm import HEADS_PATH, MiniLMClassifier, load_heads
from classifiers.training.data import DATA_DIR, load_split
from classifiers.training.metrics import actions, decision_rates
from classifiers.training.train_heads import dumps, suggest_thresholds, train

FIXTURE_DATA = Path(__file__).resolve().parent / "data" / "minilm_train"

# Written for this test, absent from the training data (checked below): a clear threat
# and a report of violence on the same subject.
THREATS_AND_REPORTS = [
    (
        "Someone should drive a truck into that councillor's office and finish the job.",
        "Police said the attacker had posted threats against the councillor for weeks "
        "before the stabbing.",
    ),
    (
        "I hope the next shell lands on your house while your kids are asleep.",
        "The report quotes a soldier saying they were ordered to shoot anyone who ran.",
    ),
    (
        "Your editor lives on Mill Lane. Maybe someone should go round there with a can of petrol.",
        "The court heard he had threatened to set fire to the editor's house on Mill Lane.",
    ),
    (
        "Every one of those protesters deserves a bullet, and I'd happily supply it.",
        "The minister said protesters had been shot with rubber bullets, which the police deny.",
    ),
]


def test_heads_load_and_score_every_category(minilm: MiniLMClassifier) -> None:
    assert isinstance(minilm, Classifier)
    assert minilm.name == "minilm" and minilm.runtime == "onnx"
    assert minilm.categories == CATEGORIES
    assert HEADS_PATH.is_file() and minilm.heads.encoder_sha256 == minilm.encoder.digest
    # the standardisation was folded in and dead dimensions got no weight: modest weights
    assert float(numpy.abs(minilm.heads.weights).max()) < 1e3
    texts = ["you are an idiot", "Thank you for the article.", "", "ok " * 500]
    embeddings, scores = minilm.embed_and_predict(texts)
    assert embeddings.shape == (4, 384)
    assert scores == minilm.predict(texts)
    for row in scores:
        assert set(row) == set(CATEGORIES)
        assert all(0.0 <= v <= 1.0 and not math.isnan(v) for v in row.values())
    assert scores[0]["insult"] > 0.5 > scores[1]["insult"]
    assert minilm.embed_and_predict([])[1] == []


def test_heads_refuse_another_encoder_and_bad_files(
    minilm_encoder: SentenceEncoder, tmp_path: Path
) -> None:
    digests = {
        "encoder_sha256": minilm_encoder.digest,
        "encoder_config_sha256": minilm_encoder.config_digest,
    }
    with pytest.raises(ClassifierLoadError, match="trained on encoder weights"):
        load_heads(HEADS_PATH, **(digests | {"encoder_sha256": "0" * 64}))
    document = json.loads(HEADS_PATH.read_text(encoding="utf-8"))
    broken = tmp_path / "heads.json"
    document["heads"]["threat"]["weights"] = document["heads"]["threat"]["weights"][:10]
    broken.write_text(json.dumps(document))
    with pytest.raises(ClassifierLoadError, match="do not fit"):
        load_heads(broken, **digests)
    broken.write_text("{not json")
    with pytest.raises(ClassifierLoadError, match="cannot read"):
        load_heads(broken, **digests)
    broken.write_text(json.dumps({"format": 99}))
    with pytest.raises(ClassifierLoadError, match="format"):
        load_heads(broken, **digests)


def test_a_threat_scores_above_a_report_of_violence(minilm: MiniLMClassifier) -> None:
    texts = [text for pair in THREATS_AND_REPORTS for text in pair]
    # New to the model: not in the training data (when written, the nearest training
    # comment to any of them had a cosine below 0.6; not re-checked here, it takes seconds)
    assert not set(texts) & {c.text for c in load_split("train", DATA_DIR).comments}
    scores = minilm.predict(texts)
    for i, (threat, report) in enumerate(THREATS_AND_REPORTS):
        threat_score, report_score = scores[2 * i]["threat"], scores[2 * i + 1]["threat"]
        assert threat_score > report_score + 0.3, (threat, threat_score, report, report_score)


def test_training_is_deterministic(minilm_encoder: SentenceEncoder, tmp_path: Path) -> None:
    split = load_split("train", FIXTURE_DATA)
    linear = LinearClassifier()
    first = train(split, minilm_encoder, linear, folds=3)
    second = train(split, minilm_encoder, linear, folds=3)
    assert dumps(first.document) == dumps(second.document)
    document = first.document
    assert document["training"]["data_sha256"] == split.sha256
    assert document["training"]["rows"] == len(split.comments)
    assert set(document["suggested_thresholds"]["thresholds"]) == set(CATEGORIES)
    # what it wrote loads and scores
    path = tmp_path / "heads.json"
    path.write_text(dumps(document), encoding="utf-8")
    classifier = MiniLMClassifier(minilm_encoder, heads_path=path, linear=linear)
    assert len(classifier.predict(["a test"])[0]) == len(CATEGORIES)


def test_suggested_thresholds_keep_to_their_budgets() -> None:
    rng = numpy.random.default_rng(7)
    expect = ["fine"] * 600 + ["review"] * 150 + ["violating"] * 250
    signal = numpy.array([0.1] * 600 + [0.5] * 150 + [0.8] * 250)
    probabilities = numpy.clip(signal[:, None] + rng.normal(0, 0.2, (1000, 7)), 0, 1)
    thresholds = suggest_thresholds(
        probabilities, expect, fine_rejected_max=2.0, fine_held_max=10.0
    )
    rates = decision_rates(actions(probabilities, CATEGORIES, thresholds), expect)
    assert rates["fine"]["reject"] <= 2.0 and rates["fine"]["hold"] <= 10.0
    assert rates["violating"]["approve"] < 10.0
    for limits in thresholds.values():
        if limits.hold_at is not None and limits.reject_at is not None:
            assert limits.hold_at <= limits.reject_at
        if limits.reject_at is not None:
            assert limits.reject_at >= 0.5


def test_the_averaged_network_is_one_network_on_raw_features() -> None:
    """The seeds' networks, their standardisation folded in, averaged in logits: what the
    heads file stores must give the mean of the networks' own logits on raw features."""
    from sklearn.neural_network import MLPClassifier

    from classifiers.training.train_heads import HIDDEN_SEEDS, HIDDEN_UNITS, _fit_network

    rng = numpy.random.default_rng(3)
    features = rng.normal(2.0, 3.0, (120, 6))
    features[:, 4] = 0.5  # a dead dimension gets no weight
    labels = (features[:, :2] + rng.normal(0, 1, (120, 2)) > 2.0).astype(numpy.int64)
    weights, bias, out_weights, out_bias = _fit_network(features, labels, 1.0)
    assert weights.shape == (HIDDEN_UNITS * len(HIDDEN_SEEDS), 6)
    assert not weights[:, 4].any()
    folded = numpy.maximum(features @ weights.T + bias, 0.0) @ out_weights.T + out_bias
    live = [0, 1, 2, 3, 5]
    standardised = (features[:, live] - features[:, live].mean(0)) / features[:, live].std(0)
    expected = numpy.zeros_like(folded)
    for seed in HIDDEN_SEEDS:
        model = MLPClassifier(
            hidden_layer_sizes=(HIDDEN_UNITS,),
            alpha=1.0,
            max_iter=300,
            early_stopping=True,
            random_state=seed,
        ).fit(standardised, labels)
        p = numpy.clip(model.predict_proba(standardised), 1e-12, 1 - 1e-12)
        expected += numpy.log(p / (1 - p)) / len(HIDDEN_SEEDS)
    assert numpy.allclose(folded, expected, atol=1e-6)


def test_heads_with_a_hidden_layer_load_and_compute(
    minilm_encoder: SentenceEncoder, tmp_path: Path
) -> None:
    digests = {
        "encoder_sha256": minilm_encoder.digest,
        "encoder_config_sha256": minilm_encoder.config_digest,
    }
    rng = numpy.random.default_rng(5)
    width, units = 385, 4
    hidden_w, hidden_b = rng.normal(0, 1, (units, width)), rng.normal(0, 1, units)
    out = rng.normal(0, 1, (len(CATEGORIES), units + width))
    document = json.loads(HEADS_PATH.read_text(encoding="utf-8"))
    document["format"] = 2
    linear_block = {"name": "linear_toxicity_logit", "size": 1, "description": "test"}
    document["features"] = [document["features"][0], linear_block]
    document["hidden"] = {"weights": hidden_w.tolist(), "bias": hidden_b.tolist()}
    for i, c in enumerate(CATEGORIES):
        document["heads"][c] = {"weights": out[i].tolist(), "bias": 0.25}
    path = tmp_path / "heads.json"
    path.write_text(json.dumps(document))
    heads = load_heads(path, **digests)
    x = rng.normal(0, 1, (3, width))
    units_out = numpy.maximum(x @ hidden_w.T + hidden_b, 0.0)
    logits = numpy.hstack([units_out, x]) @ out.T + 0.25
    assert numpy.allclose(heads.probabilities(x), 1 / (1 + numpy.exp(-logits)))
    document["hidden"]["bias"] = hidden_b.tolist()[:3]
    path.write_text(json.dumps(document))
    with pytest.raises(ClassifierLoadError, match="hidden layer does not fit"):
        load_heads(path, **digests)
