"""Counterfactual copies of training comments, and how training keeps them out of every
figure it reports (classifiers/training/counterfactual.py, train_heads.with_copies)."""

from __future__ import annotations

from pathlib import Path

import numpy
import pytest

from classifiers.encoder import SentenceEncoder
from classifiers.linear import LinearClassifier
from classifiers.training.counterfactual import GROUPS, copies, named_group
from classifiers.training.data import load_split
from classifiers.training.train_heads import fold_indices, train, with_copies

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
