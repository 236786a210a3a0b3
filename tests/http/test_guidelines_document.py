"""Validation of the guidelines document, one case at a time, and its round trips."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from moderation.domain.guidelines import UNSET
from moderation.http.guidelines_document import MAX_CLASSIFIERS, GuidelinesDocument, load_toml
from moderation.http.parsing import describe
from tests.conftest import Service

ROOT = Path(__file__).resolve().parents[2]


def valid() -> dict[str, Any]:
    return {
        "rules": [
            {
                "id": "no-threats",
                "category": "threat",
                "title": "No threats",
                "guideline": "3",
                "hold_at": 0.5,
                "reject_at": 0.9,
            },
            {
                "id": "civil",
                "category": "toxicity",
                "title": "Civil",
                "guideline": "1",
                "hold_at": 0.8,
                "reject_at": None,
                "classifiers": {"linear": {"hold_at": 0.9}},
            },
        ],
        "banned_terms": ["badword"],
        "suspect_terms": ["vermin"],
        "overrides": [{"article_tags": ["war"], "rules": [{"id": "no-threats", "hold_at": 0.3}]}],
    }


def problems(document: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as caught:
        GuidelinesDocument.model_validate(document)
    return describe(caught.value)


def test_valid_document_round_trips() -> None:
    document = GuidelinesDocument.model_validate(valid())
    again = GuidelinesDocument.model_validate(document.to_json())
    assert again.to_json() == document.to_json()
    # absent per-classifier values stay absent (they fall back), present nulls stay null
    assert document.to_json()["rules"][1]["classifiers"] == {"linear": {"hold_at": 0.9}}
    rule = document.to_domain(1).rules[1]
    assert rule.classifiers["linear"].reject_at is UNSET
    assert rule.thresholds_for("linear") == (0.9, None)


def test_default_toml_is_valid() -> None:
    document = load_toml(ROOT / "guidelines" / "default.toml")
    assert len(document.rules) == 7
    # The shipped examples hold from 0.35 (docs/classifiers.md, "The shipped examples'
    # floor"); every other rule, and every rule learned later, from the document's.
    floors = {rule.id: rule.example_hold_at for rule in document.rules}
    assert {rule: floor for rule, floor in floors.items() if floor is not None} == {
        "no-threats": 0.35,
        "no-personal-insults": 0.35,
        "no-attacks-on-groups": 0.35,
    }
    assert document.example_hold_at == 0.3


def test_read_only_fields_of_get_are_ignored() -> None:
    document = valid() | {
        "version": 9,
        "created_by": "x",
        "created_at": "2026-01-01T00:00:00Z",
        "note": "n",
        "changes": [],
    }
    assert "version" not in GuidelinesDocument.model_validate(document).to_json()


def test_false_means_null_for_toml() -> None:
    document = valid()
    document["rules"][0]["reject_at"] = False
    assert GuidelinesDocument.model_validate(document).rules[0].reject_at is None


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda d: d["rules"][0].update(hold_at=1.5), "rules.0.hold_at", "less than or equal"),
        (lambda d: d["rules"][0].update(hold_at=-0.1), "rules.0.hold_at", "greater than"),
        (lambda d: d["rules"][0].update(hold_at=0.95), "rules.0", "hold_at must not be above"),
        (
            lambda d: d["rules"][0].update(category="rudeness"),
            "rules.0.category",
            "unknown category",
        ),
        (lambda d: d["rules"][1].update(id="no-threats"), "(body)", "duplicate rule ids"),
        (lambda d: d["rules"][0].update(id="Bad Id!"), "rules.0.id", "pattern"),
        (lambda d: d["rules"][0].update(hold_at=True), "rules.0.hold_at", "threshold"),
        (lambda d: d["overrides"][0]["rules"][0].update(id="nope"), "(body)", "unknown rule nope"),
        (
            lambda d: d["overrides"][0]["rules"][0].update(hold_at=0.95),
            "(body)",
            "would hold above its reject",
        ),
        (
            lambda d: d["rules"][1]["classifiers"].update(
                linear={"hold_at": 0.9, "reject_at": 0.5}
            ),
            "rules.1",
            "classifiers.linear",
        ),
        (
            lambda d: d["rules"][1]["classifiers"].update(
                {f"c{n}": {"hold_at": 0.5} for n in range(MAX_CLASSIFIERS)}
            ),
            "rules.1.classifiers",
            f"at most {MAX_CLASSIFIERS}",
        ),
        (lambda d: d.update(banned_terms=["  "]), "banned_terms", "blank"),
        (lambda d: d.update(banned_terms=["a"]), "banned_terms", "shorter than 2"),
        (lambda d: d.update(suspect_terms=["!!!"]), "suspect_terms", "no letter or digit"),
        (lambda d: d.update(suspect_terms=["Vermin", "vermin"]), "suspect_terms", "duplicate"),
        (lambda d: d.update(banned_terms=["x" * 101]), "banned_terms.0", "at most 100"),
        (lambda d: d.update(report_threshold=-1), "report_threshold", "greater than or equal"),
        (lambda d: d.update(report_threshold=0), "report_threshold", "greater than or equal"),
        (lambda d: d.update(claim_seconds=10**9), "claim_seconds", "less than or equal"),
        (lambda d: d.update(rules=[]), "rules", "at least 1"),
        (lambda d: d.update(colour="blue"), "colour", "Extra inputs"),
        (lambda d: d.update({"<img onerror=x>": 1}), "?", "Extra inputs"),  # never echoed
        (lambda d: d.update(sections={"sidebar": "1"}), "sections", "unknown section key"),
        (
            lambda d: d.update(auto_premoderate={"rejections": 0, "days": 30}),
            "auto_premoderate.rejections",
            "greater than or equal",
        ),
    ],
)
def test_invalid_documents_are_refused_precisely(change: Any, field: str, words: str) -> None:
    document = copy.deepcopy(valid())
    change(document)
    found = problems(document)
    assert any(p["field"] == field and words in p["problem"] for p in found), found


def _with_examples(examples: list[str], counterexamples: list[str]) -> dict[str, Any]:
    document = valid()
    document["rules"][0]["examples"] = examples
    document["rules"][0]["counterexamples"] = counterexamples
    return document


def test_examples_round_trip_and_reach_the_domain() -> None:
    document = GuidelinesDocument.model_validate(
        _with_examples(["I will hurt you.", "Watch your back."], ["The troops were hurt."])
    )
    rule = document.to_domain(3).rules[0]
    assert rule.examples == ("I will hurt you.", "Watch your back.")
    assert rule.counterexamples == ("The troops were hurt.",)
    again = GuidelinesDocument.model_validate(document.to_json())
    assert again.to_json() == document.to_json()


@pytest.mark.parametrize(
    ("examples", "counterexamples", "says"),
    [
        (["Same text.", "same   TEXT."], [], "duplicate"),
        (["   "], [], "blank"),
        (["x" * 2001], [], "2000"),
        (["I will hurt you."], ["i will hurt you."], "both an example and a counterexample"),
        ([], ["A near miss."], "need examples"),
        ([f"example number {n}" for n in range(501)], [], "500"),
    ],
)
def test_bad_examples_are_refused(
    examples: list[str], counterexamples: list[str], says: str
) -> None:
    found = problems(_with_examples(examples, counterexamples))
    assert any(says in str(problem) for problem in found), found


def test_example_thresholds_must_be_ordered() -> None:
    document = valid() | {"example_hold_at": 0.9, "example_reject_at": 0.5}
    assert any("example_hold_at" in str(p) for p in problems(document))


@pytest.mark.parametrize(
    ("floor", "says"),
    [(0.9, "not be above"), (1.5, "1"), (-0.1, "0"), (True, "a number in [0, 1], null or false")],
)
def test_a_rules_own_example_hold_at_is_checked(floor: float, says: str) -> None:
    document = _with_examples(["I will hurt you."], []) | {"example_reject_at": 0.85}
    document["rules"][0]["example_hold_at"] = floor
    found = problems(document)
    assert any("example_hold_at" in str(p) and says in str(p) for p in found), found


def test_a_rules_own_example_hold_at_reaches_the_domain() -> None:
    document = _with_examples(["I will hurt you."], [])
    document["rules"][0]["example_hold_at"] = 0.4
    parsed = GuidelinesDocument.model_validate(document)
    assert parsed.to_json()["rules"][0]["example_hold_at"] == 0.4
    guidelines = parsed.to_domain(1)
    assert guidelines.rules[0].example_hold_at == 0.4
    assert guidelines.example_hold_for(guidelines.rules[0].id) == 0.4
    assert guidelines.example_hold_for("no-such-rule") == guidelines.example_hold_at


@pytest.mark.parametrize("unset", [None, False, "absent"])
def test_an_unset_rule_floor_is_the_documents_and_is_not_stored(unset: Any) -> None:
    document = _with_examples(["I will hurt you."], [])
    if unset != "absent":
        document["rules"][0]["example_hold_at"] = unset  # TOML's false: "not set"
    parsed = GuidelinesDocument.model_validate(document)
    # Versions stored before rules had a floor have no such key: a new one must not differ
    # from them by a null on every rule (the change history would list them all).
    assert "example_hold_at" not in parsed.to_json()["rules"][0]
    guidelines = parsed.to_domain(1)
    assert guidelines.example_hold_for(guidelines.rules[0].id) == guidelines.example_hold_at


@pytest.mark.parametrize("value", [True, False])
def test_the_documents_resemblance_floors_are_numbers_not_booleans(value: bool) -> None:
    for field in ("example_hold_at", "example_margin"):
        found = problems(valid() | {field: value})
        assert any(field in str(p) and "a number in [0, 1]" in str(p) for p in found), found


async def test_documents_are_checked_off_the_event_loop(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thousands of terms, examples and overrides take a while to check: never on the
    loop, where every other request would wait. Every route that takes a document."""
    import threading

    from moderation.http import parsing

    on_main: list[bool] = []
    real = parsing.validate

    def watched(model: Any, value: Any) -> Any:
        if model is GuidelinesDocument:
            on_main.append(threading.current_thread() is threading.main_thread())
        return real(model, value)

    monkeypatch.setattr("moderation.http.guidelines_document.validate", watched)
    status, current = await service.call("GET", "/v1/guidelines", role="admin")
    assert status == 200
    for method, path, body in (
        ("PUT", "/v1/guidelines", current),
        ("POST", "/v1/guidelines/backtest", {"guidelines": current}),
        ("POST", "/v1/guidelines/audit", {"guidelines": current}),
        ("PUT", "/v1/guidelines/shadow", {"guidelines": current}),
    ):
        status, answer = await service.call(method, path, role="admin", json=body)
        assert status in (200, 201), (path, answer)
    assert on_main == [False] * 4
