"""Counterfactual copies of training comments, and how training keeps them out of every
figure it reports (classifiers/training/counterfactual.py, train_heads.with_copies)."""

from __future__ import annotations

from pathlib import Path

import numpy
import pytest

from classifiers.encoder import SentenceEncoder
from classifiers.linear import LinearClassifier
from classifiers.minilm import load_heads
from classifiers.training.counterfactual import (
    GROUPS,
    copies,
    group_subspace,
    named_group,
    versions,
)
from classifiers.training.data import load_split
from classifiers.training.train_heads import (
    dumps,
    featurize,
    fold_indices,
    train,
    with_copies,
)

FIXTURE_DATA = Path(__file__).resolve().parent / "data" / "minilm_train"


@pytest.mark.parametrize(
    ("text", "group"),
    [
        ("Muslims and their neighbours cleared the flood damage together.", "Muslims"),
        ("Russians are not their government. Russians are tired of it too.", "Russians"),
        ("Russians and Ukrainians both buried sons this year.", None),  # two groups
        ("The council voted again on the parking scheme.", None),
        ("muslims", None),  # the capital is part of the word
        ("Jewsbury Road is closed for resurfacing.", None),  # a whole word only
    ],
)
def test_a_comment_names_one_group_or_is_left_alone(text: str, group: str | None) -> None:
    assert named_group(text) == group


def test_copies_swap_every_mention_for_other_groups_the_same_way_each_time() -> None:
    texts = [
        "Nothing about this.",
        "Sikhs run the food bank. Sikhs fed half the street in the floods.",
        "Poles deserve a fair hearing.",
    ]
    made = copies(texts, seed=3, count=2)
    assert made == copies(texts, seed=3, count=2)
    assert [source for source, _ in made] == [1, 1, 2, 2]
    for source, text in made:
        group = named_group(text)
        assert group is not None and group != named_group(texts[source])
        assert group in GROUPS
        assert text == texts[source].replace(named_group(texts[source]) or "", group)
    assert len({text for _, text in made}) == 4  # two different groups per comment


def test_copies_join_the_training_folds_of_their_source_and_are_never_held_out() -> None:
    expect = ["fine", "violating"] * 10
    folds = fold_indices(expect, folds=5, seed=1)
    sources = [0, 0, 3, 7]  # copies are rows 20, 21, 22, 23
    joined = with_copies(folds, sources, first=20)
    for (train_rows, held), (plain_train, plain_held) in zip(joined, folds, strict=True):
        assert numpy.array_equal(held, plain_held)
        added = sorted(set(train_rows.tolist()) - set(plain_train.tolist()))
        assert added == [20 + i for i, s in enumerate(sources) if s in set(plain_train.tolist())]


def test_training_scores_and_calibrates_on_the_comments_only(
    minilm_encoder: SentenceEncoder,
) -> None:
    split = load_split("train", FIXTURE_DATA)
    made = copies([c.text for c in split.comments], seed=20240611)
    assert made, "the fixture has comments that name one group"
    result = train(split, minilm_encoder, LinearClassifier(), folds=3)
    assert result.oof.shape == (len(split.comments), 7)
    assert result.data.scored == len(split.comments)
    assert len(result.data.comments) == len(split.comments) + len(made)
    assert result.document["training"]["counterfactual_copies"] == len(made)
    assert result.document["training"]["rows"] == len(split.comments)


def test_versions_name_every_group_in_turn() -> None:
    text = "Sikhs run the food bank. Sikhs fed half the street in the floods."
    about = versions(text)
    assert about is not None and len(about) == len(GROUPS)
    assert [named_group(v) for v in about] == list(GROUPS)
    assert about[GROUPS.index("Sikhs")] == text
    assert about[GROUPS.index("Poles")] == text.replace("Sikhs", "Poles")
    assert versions("Russians and Ukrainians both buried sons this year.") is None
    assert versions("The council voted again on the parking scheme.") is None


def _synthetic(comments: int, groups: int, dimension: int, noise: float) -> numpy.ndarray:
    """Embeddings of ``comments`` contexts about ``groups`` groups: context + group."""
    rng = numpy.random.default_rng(7)
    context = rng.normal(size=(comments, 1, dimension))
    group = rng.normal(size=(1, groups, dimension))
    return context + group + noise * rng.normal(size=(comments, groups, dimension))


def test_the_subspace_removes_what_tells_the_groups_apart() -> None:
    embeddings = _synthetic(comments=40, groups=6, dimension=32, noise=0.0)
    subspace = group_subspace(embeddings, components=5)
    directions = subspace.directions
    assert directions.shape == (5, 32)
    assert numpy.allclose(directions @ directions.T, numpy.eye(5), atol=1e-10)
    assert subspace.variance_share == pytest.approx(1.0)
    assert subspace.comments == 40
    projected = subspace.project(embeddings.reshape(-1, 32)).reshape(40, 6, 32)
    # each comment's versions about the six groups are now one point
    assert numpy.abs(projected - projected[:, :1]).max() < 1e-9
    # ... and the comments still differ from each other
    assert numpy.abs(projected[1:, 0] - projected[:-1, 0]).max() > 0.1
    # each version becomes what its comment's versions share (their mean, projected)
    mean = embeddings.mean(axis=1)
    assert numpy.allclose(projected[:, 0], subspace.project(mean), atol=1e-9)


def test_no_directions_leave_training_as_it_was(
    minilm_encoder: SentenceEncoder,
) -> None:
    split = load_split("train", FIXTURE_DATA)
    result = train(split, minilm_encoder, LinearClassifier(), folds=3, group_components=0)
    recorded = result.document["training"]["group_subspace"]
    assert recorded["directions"] == 0 and recorded["folded_into_weights"] is False
    plain = featurize(list(split.comments), minilm_encoder, LinearClassifier())
    rows = len(split.comments)
    # the same embeddings as without the subspace (up to the encoder's batching noise)
    assert numpy.allclose(result.data.embeddings[:rows], plain.embeddings, atol=1e-5)


def test_fewer_directions_keep_part_of_the_differences() -> None:
    embeddings = _synthetic(comments=40, groups=6, dimension=32, noise=0.01)
    two = group_subspace(embeddings, components=2)
    five = group_subspace(embeddings, components=5)
    assert 0.0 < two.variance_share < five.variance_share <= 1.0
    # asking for more directions than the versions span gives only those they span
    exact = _synthetic(comments=40, groups=2, dimension=32, noise=0.0)
    assert len(group_subspace(exact, components=5).directions) == 1
    assert len(group_subspace(embeddings[:0], components=5).directions) == 0
    assert len(group_subspace(embeddings, components=0).directions) == 0


def test_folded_weights_on_raw_embeddings_equal_weights_on_projected_ones() -> None:
    embeddings = _synthetic(comments=10, groups=4, dimension=16, noise=0.1)
    subspace = group_subspace(embeddings, components=3)
    x = numpy.random.default_rng(1).normal(size=(20, 16))
    w = numpy.random.default_rng(2).normal(size=(5, 16))
    assert numpy.allclose(subspace.project(x) @ w.T, x @ subspace.fold(w).T)
    assert not numpy.allclose(x @ w.T, x @ subspace.fold(w).T)


def test_trained_heads_cannot_see_the_group_directions(
    minilm_encoder: SentenceEncoder, tmp_path: Path
) -> None:
    split = load_split("train", FIXTURE_DATA)
    result = train(split, minilm_encoder, LinearClassifier(), folds=3, group_components=4)
    recorded = result.document["training"]["group_subspace"]
    directions = result.subspace.directions
    assert recorded["directions"] == len(directions) == 4
    assert recorded["comments"] == sum(named_group(c.text) is not None for c in split.comments)
    assert 0.0 < recorded["variance_share"] < 1.0
    assert recorded["folded_into_weights"] is True
    # the heads learnt on projected embeddings (the fold alone would hide a fit that saw
    # the directions, and the out-of-fold figures would describe another model)
    assert numpy.abs(result.data.embeddings @ directions.T).max() < 1e-5
    path = tmp_path / "heads.json"
    path.write_text(dumps(result.document), encoding="utf-8")
    heads = load_heads(
        path,
        encoder_sha256=minilm_encoder.digest,
        encoder_config_sha256=minilm_encoder.config_digest,
    )
    texts = ["Poles run the bakery on our street.", "Somalis are vermin and always have been."]
    embeddings = minilm_encoder.embed(texts).astype(numpy.float64)
    linear = [[0.0], [0.0]]
    base = heads.probabilities(numpy.hstack([embeddings, linear]))
    # moving an embedding along the group directions changes no score ...
    moved = embeddings + 0.3 * directions.sum(axis=0)
    assert numpy.abs(heads.probabilities(numpy.hstack([moved, linear])) - base).max() < 1e-6
    # ... while a move of the same size elsewhere does
    other = result.subspace.project(numpy.random.default_rng(3).normal(size=(1, 384)))
    other *= numpy.linalg.norm(0.3 * directions.sum(axis=0)) / numpy.linalg.norm(other)
    elsewhere = heads.probabilities(numpy.hstack([embeddings + other, linear]))
    assert numpy.abs(elsewhere - base).max() > 1e-3
