"""Rules taught by example: resemblance, the decision rule, and the backtest agreeing
with the engine on it."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from moderation.backtest import decide_many
from moderation.domain.engine import Context, compile_policy, decide, example_action
from moderation.domain.examples import NONE, Vectors, compile_examples, resemblance
from moderation.domain.guidelines import Guidelines, Override, Rule, RuleOverride
from moderation.domain.models import Action, ArticleMode, AuthorStatus
from moderation.domain.records import Case
from moderation.storage.statements import pack_vector


def unit(*values: float) -> Vectors:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_resemblance_is_the_mean_of_the_three_nearest() -> None:
    rows = np.stack([unit(1, 0), unit(0, 1), unit(1, 1), unit(-1, 0)])
    similarity, nearest = resemblance(unit(1, 0).reshape(1, -1), rows)
    # cosines: 1, 0, 0.7071, -1 -> the three largest are 1, 0.7071, 0
    assert similarity[0] == pytest.approx((1 + 0.70710677 + 0) / 3, abs=1e-6)
    assert nearest[0] == 0


def test_resemblance_to_nothing_never_wins() -> None:
    similarity, nearest = resemblance(unit(1, 0).reshape(1, -1), np.zeros((0, 2), np.float32))
    assert similarity[0] == NONE and nearest[0] == -1


@pytest.mark.parametrize(
    ("similarity", "counter", "expected"),
    [
        (0.29, NONE, Action.approve),  # below the floor
        (0.30, NONE, Action.hold),
        (0.50, 0.46, Action.approve),  # within the margin of the counterexamples
        (0.50, 0.45, Action.hold),
        (0.85, 0.10, Action.reject),
        (0.90, 0.88, Action.approve),  # close to a counterexample as well: no
    ],
)
def test_the_decision_rule(similarity: float, counter: float, expected: Action) -> None:
    assert example_action(similarity, counter, 0.3, 0.85, 0.05) is expected


def test_no_reject_threshold_means_hold_at_most() -> None:
    assert example_action(0.99, NONE, 0.3, None, 0.05) is Action.hold


def test_compile_examples_embeds_once_and_slices_per_rule() -> None:
    calls: list[list[str]] = []

    def embed(texts: Sequence[str]) -> Vectors:
        calls.append(list(texts))
        return np.stack([unit(len(t), 1) for t in texts])

    sets = compile_examples([("a", ["x", "yy"], ["zzz"]), ("b", [], []), ("c", ["w"], [])], embed)
    assert calls == [["x", "yy", "zzz", "w"]]
    assert set(sets) == {"a", "c"}
    assert sets["a"].example_vectors.shape == (2, 2) and sets["a"].counter_vectors.shape == (1, 2)
    assert compile_examples([("a", ["x"], [])], None) == {}


def _rule(
    rule_id: str,
    examples: tuple[str, ...],
    counter: tuple[str, ...],
    example_hold_at: float | None = None,
) -> Rule:
    return Rule(
        rule_id, "threat", "No threats", "3", None, None, {}, examples, counter, example_hold_at
    )


def test_a_rule_can_ask_for_a_closer_resemblance_than_the_document() -> None:
    vocabulary = {"threat": unit(1, 0), "near": unit(0.8, 0.6)}  # cosine 0.8 apart

    def embed(texts: Sequence[str]) -> Vectors:
        return np.stack([vocabulary[t] for t in texts])

    def action(rule_floor: float | None) -> tuple[Action, float | None]:
        guidelines = Guidelines(
            rules=(_rule("a", ("threat",), (), rule_floor),), example_hold_at=0.3, version=1
        )
        verdict = decide(
            compile_policy(guidelines, embed), "", {}, "linear", Context(embedding=unit(0.8, 0.6))
        )
        return verdict.action, next((r.threshold for r in verdict.reasons), None)

    assert action(None) == (Action.hold, 0.3)  # the document's floor
    assert action(0.79) == (Action.hold, 0.79)  # the rule's, reported as the threshold
    assert action(0.81) == (Action.approve, None)
    assert Guidelines(rules=(_rule("a", (), (), 0.5),)).example_hold_for("a") == 0.5
    assert Guidelines(rules=(_rule("a", (), ()),)).example_hold_for("a") == 0.3


def test_the_backtest_decides_examples_exactly_as_the_engine() -> None:
    rng = random.Random(7)
    dimension = 8
    vocabulary = {f"t{n}": unit(*[rng.gauss(0, 1) for _ in range(dimension)]) for n in range(12)}

    def embed(texts: Sequence[str]) -> Vectors:
        return np.stack([vocabulary[t] for t in texts])

    guidelines = Guidelines(
        rules=(
            _rule("a", ("t0", "t1", "t2"), ("t3", "t4")),
            _rule("b", ("t5",), (), example_hold_at=0.45),
        ),
        example_hold_at=0.2,
        example_reject_at=0.7,
        version=1,
    )
    policy = compile_policy(guidelines, embed)
    cases, expected = [], []
    for n in range(400):
        vector = unit(*[rng.gauss(0, 1) for _ in range(dimension)])
        if n % 5 == 0:  # some close to an example
            vector = unit(*(vocabulary[f"t{n % 6}"] + 0.2 * vector))
        stored = np.frombuffer(pack_vector(vector) or b"", dtype=np.float16).astype(np.float32)
        cases.append(
            Case(
                comment_id=f"c{n}",
                text="",
                scores={},
                classifier="linear",
                article_tags=frozenset(),
                article_mode=ArticleMode.auto,
                author_status=AuthorStatus.active,
                decided=Action.approve,
                moderator=None,
                created_at=datetime(2026, 11, 1, tzinfo=UTC),
                embedding=pack_vector(vector),
            )
        )
        verdict = decide(policy, "", {}, "linear", Context(embedding=stored))
        expected.append(verdict.action)
    assert decide_many(policy, cases) == expected
    assert {Action.approve, Action.hold, Action.reject} <= set(expected)
    # Rule b's own floor decided some of these: under the document's they differ.
    plain = replace(
        guidelines, rules=(guidelines.rules[0], replace(guidelines.rules[1], example_hold_at=None))
    )
    unfloored = compile_policy(plain, embed)
    assert decide_many(unfloored, cases) != expected


def test_a_rules_floor_survives_the_articles_overrides() -> None:
    guidelines = Guidelines(
        rules=(_rule("a", ("t0",), (), example_hold_at=0.6),),
        overrides=(Override(("war",), (RuleOverride("a", hold_at=0.5),)),),
    )
    (rule,) = guidelines.rules_for_tags(frozenset({"war"}))
    assert rule.hold_at == 0.5 and rule.example_hold_at == 0.6
