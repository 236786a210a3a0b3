"""The identity-term audit's sentences and its aggregation, as pure functions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from moderation.domain.engine import Context, compile_policy, decide
from moderation.domain.identity_audit import (
    ADJECTIVE,
    AUDITED,
    CONTROL,
    CONTROLS,
    GROUPS,
    PEOPLE,
    TEMPLATES,
    TERMS,
    IdentityTerm,
    Outcome,
    Sentence,
    Template,
    aggregate,
    sentences,
)
from moderation.domain.models import Action, Reason
from moderation.http.guidelines_document import load_toml

ROOT = Path(__file__).resolve().parents[2]

#: Plural noun phrases that do not end in "s" or "people".
IRREGULAR_PLURALS = {"women", "men", "Roma"}


def test_enough_templates_of_both_forms() -> None:
    assert len(TEMPLATES) >= 12
    assert len({t.text for t in TEMPLATES}) == len(TEMPLATES)
    forms = [t.form for t in TEMPLATES]
    assert forms.count(PEOPLE) >= 6 and forms.count(ADJECTIVE) >= 6


def test_every_group_is_present_with_the_terms_the_contract_names() -> None:
    by_group = {group: {t.term for t in TERMS if t.group == group} for group in GROUPS}
    assert all(len(terms) >= 4 for terms in by_group.values()), by_group
    assert {t.group for t in TERMS} == set(GROUPS)
    assert {"Russians", "Ukrainians"} <= by_group["nationality"]
    assert {"Muslims", "Jews", "Christians", "atheists"} <= by_group["religion"]
    assert {"Black", "white", "Roma", "Arabs"} <= by_group["ethnicity"]
    assert {"women", "men", "transgender", "non-binary"} <= by_group["gender"]
    assert {"gay", "lesbian", "bisexual", "straight"} <= by_group["sexual_orientation"]
    assert {"elderly", "young", "pensioners"} <= by_group["age"]
    assert len({t.term for t in TERMS}) == len(TERMS)


def test_the_baseline_names_no_group_and_is_audited_after_the_terms() -> None:
    assert len(CONTROLS) >= 3 and CONTROL not in GROUPS
    assert all(t.group == CONTROL for t in CONTROLS)
    assert (*TERMS, *CONTROLS) == AUDITED
    assert not {t.term for t in CONTROLS} & {t.term for t in TERMS}


@pytest.mark.parametrize("term", AUDITED, ids=lambda t: t.term)
def test_forms_are_a_plural_noun_phrase_and_an_adjective(term: IdentityTerm) -> None:
    assert (
        term.people.endswith("s")
        or term.people.endswith(" people")
        or term.people in IRREGULAR_PLURALS
    ), term.people
    assert not term.adjective.endswith("s") and "people" not in term.adjective, term.adjective
    assert term.people.strip() == term.people and term.adjective.strip() == term.adjective


def test_templates_fill_without_grammar_slips() -> None:
    assert len(sentences()) == len(TERMS) * len(TEMPLATES)
    filled = sentences(AUDITED)
    assert len(filled) == len(AUDITED) * len(TEMPLATES)
    for template in TEMPLATES:
        # No article has to agree with a term ("a Arab", "an Russian").
        assert not re.search(r"\b(a|an|A|An)\s+\{", template.text), template.text
    for sentence in filled:
        text = sentence.text
        assert "{" not in text and "}" not in text, text
        assert text[0].isupper() and text.endswith("."), text
        assert "  " not in text and text == text.strip(), text
        assert not re.search(r"\b(\w+) \1\b", text, re.IGNORECASE), text  # "people people"
        word = sentence.term.form(sentence.template.form)
        assert re.search(rf"\b({re.escape(word)}|{re.escape(word[0].upper() + word[1:])})\b", text)


def test_filling_capitalises_at_the_start_only() -> None:
    white = next(t for t in TERMS if t.term == "white")
    start = Template("{People} are part of this community and always have been.")
    middle = Template("My neighbours are {people} and they helped us move.")
    assert start.fill(white) == "White people are part of this community and always have been."
    assert middle.fill(white) == "My neighbours are white people and they helped us move."
    muslims = next(t for t in TERMS if t.term == "Muslims")
    assert (
        Template("Our {adjective} neighbours came.").fill(muslims) == "Our Muslim neighbours came."
    )
    with pytest.raises(ValueError):
        _ = Template("{people} and {adjective}").slot
    with pytest.raises(ValueError):
        _ = Template("{term} is unknown").slot


# -- aggregation, numbers checked by hand ---------------------------------------------------

TERM_A = IdentityTerm("As", "nationality", "As", "A")
TERM_B = IdentityTerm("Bs", "religion", "Bs", "B")
TEMPLATE_PEOPLE = Template("Two of my closest friends are {people}.")
TEMPLATE_ADJ = Template("Our {adjective} neighbours came.")
TEMPLATE_MORE = Template("Many {people} volunteer.")
HOLD = (Reason("threshold", Action.hold, "Keep it civil", category="toxicity"),)
REJECT = (Reason("banned_term", Action.reject, "never allowed", terms=("bs",)),)


def outcome(
    term: IdentityTerm,
    template: Template,
    action: Action,
    scores: dict[str, float] | None,
    reasons: tuple[Reason, ...] = (),
) -> Outcome:
    return Outcome(Sentence(term, template, template.fill(term)), action, reasons, scores)


def test_aggregate_shares_max_score_and_worst_sentence() -> None:
    outcomes = [
        outcome(TERM_A, TEMPLATE_PEOPLE, Action.hold, {"toxicity": 0.2, "insult": 0.7}, HOLD),
        outcome(TERM_A, TEMPLATE_ADJ, Action.approve, {"toxicity": 0.1}),
        outcome(TERM_A, TEMPLATE_MORE, Action.approve, {"toxicity": 0.05}),
        outcome(TERM_B, TEMPLATE_PEOPLE, Action.approve, {"toxicity": 0.3}),
        outcome(TERM_B, TEMPLATE_ADJ, Action.reject, {"toxicity": 0.01}, REJECT),
        outcome(TERM_B, TEMPLATE_MORE, Action.hold, None),
    ]
    result = aggregate(outcomes, templates=3)
    a, b = result.terms
    assert (a.term, b.term) == (TERM_A, TERM_B)  # in the order first met
    # A: 1 of 3 held, none rejected; highest score 0.7 (insult, first sentence), which is
    # also the worst sentence (the only hold).
    assert (a.sentences, a.held, a.rejected) == (3, 1, 0)
    assert a.held_share == pytest.approx(1 / 3) and a.rejected_share == 0.0
    assert (a.max_score, a.max_category) == (0.7, "insult")
    assert a.worst is not None and a.worst.sentence.text == "Two of my closest friends are As."
    # B: 1 held (unscored), 1 rejected; highest score 0.3 from the approved sentence;
    # the worst is the rejected one although its score is lower.
    assert (b.held, b.rejected) == (1, 1)
    assert b.held_share == pytest.approx(1 / 3) and b.rejected_share == pytest.approx(1 / 3)
    assert (b.max_score, b.max_category) == (0.3, "toxicity")
    assert b.worst is not None and b.worst.action is Action.reject
    assert [t.term.term for t in result.flagged] == ["As", "Bs"]

    body = result.to_json()
    assert body["templates"] == 3 and body["sentences"] == 6 and body["flagged"] == 2
    first = body["terms"][0]
    assert first == {
        "term": "As",
        "group": "nationality",
        "forms": ["As", "A"],
        "sentences": 3,
        "held": 1,
        "rejected": 0,
        "held_share": 0.3333,
        "rejected_share": 0.0,
        "max_score": 0.7,
        "max_category": "insult",
        "worst": {
            "sentence": "Two of my closest friends are As.",
            "action": "hold",
            "category": "insult",
            "score": 0.7,
            "reasons": [HOLD[0].as_dict()],
        },
    }
    assert body["terms"][1]["worst"]["reasons"][0]["code"] == "banned_term"
    assert result.baseline is None and body["baseline"] is None


NURSES = IdentityTerm("nurses", CONTROL, "nurses", "local")
TEACHERS = IdentityTerm("teachers", CONTROL, "teachers", "new")


def test_the_baseline_is_every_control_sentence_together_and_no_term() -> None:
    outcomes = [
        outcome(TERM_A, TEMPLATE_PEOPLE, Action.approve, {"toxicity": 0.2}),
        outcome(NURSES, TEMPLATE_PEOPLE, Action.reject, {"toxicity": 0.99}, REJECT),
        outcome(NURSES, TEMPLATE_ADJ, Action.approve, {"toxicity": 0.1}),
        outcome(TEACHERS, TEMPLATE_PEOPLE, Action.hold, {"toxicity": 0.5, "threat": 0.6}, HOLD),
        outcome(TEACHERS, TEMPLATE_ADJ, Action.approve, {"toxicity": 0.3}),
    ]
    result = aggregate(outcomes, templates=2)
    assert [t.term for t in result.terms] == [TERM_A]  # the baseline is no term
    assert result.flagged == () and result.sentences == 1
    baseline = result.baseline
    assert baseline is not None
    # 4 sentences: 1 held, 1 rejected; highest score 0.99 (the rejected one, also worst).
    assert (baseline.sentences, baseline.held, baseline.rejected) == (4, 1, 1)
    assert baseline.held_share == 0.25 and baseline.rejected_share == 0.25
    assert (baseline.max_score, baseline.max_category) == (0.99, "toxicity")
    body = result.to_json()["baseline"]
    assert body["words"] == ["nurses", "teachers"]
    assert "term" not in body and "group" not in body and "forms" not in body
    assert (body["held_share"], body["rejected_share"], body["max_score"]) == (0.25, 0.25, 0.99)
    assert body["worst"]["sentence"] == "Two of my closest friends are nurses."


def test_aggregate_ties_go_to_the_higher_score_and_unscored_terms_have_no_max() -> None:
    outcomes = [
        outcome(TERM_A, TEMPLATE_PEOPLE, Action.approve, {"toxicity": 0.2}),
        outcome(TERM_A, TEMPLATE_ADJ, Action.approve, {"toxicity": 0.4}),
        outcome(TERM_B, TEMPLATE_PEOPLE, Action.hold, None),
        outcome(TERM_B, TEMPLATE_ADJ, Action.hold, None),
    ]
    a, b = aggregate(outcomes, templates=2).terms
    assert not a.flagged and a.held_share == 0.0 and a.max_score == 0.4
    assert a.worst is not None and a.worst.sentence.template == TEMPLATE_ADJ
    assert b.held_share == 1.0 and b.max_score is None and b.max_category is None
    assert b.to_json()["worst"]["score"] is None


def test_default_guidelines_on_calm_scores_approve_every_sentence() -> None:
    """With low scores, nothing in the default guidelines (terms, links) catches a
    sentence: whatever the audit flags comes from the classifier's scores."""
    policy = compile_policy(load_toml(ROOT / "guidelines" / "default.toml").to_domain(1))
    outcomes = []
    for sentence in sentences(AUDITED):
        verdict = decide(policy, sentence.text, {"toxicity": 0.01}, "linear", Context())
        outcomes.append(Outcome(sentence, verdict.action, verdict.reasons, {"toxicity": 0.01}))
    result = aggregate(outcomes)
    assert result.templates == len(TEMPLATES)
    assert [t.term for t in result.terms] == list(TERMS)
    assert result.flagged == ()
    assert result.baseline is not None and not result.baseline.flagged
    assert result.baseline.sentences == len(CONTROLS) * len(TEMPLATES)
