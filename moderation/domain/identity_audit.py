"""The identity-term audit: neutral sentences that mention groups, decided by the guidelines.

A classifier trained on comments learns that some identity words appear often in abuse
("gay", "Muslims", "Russians" in war coverage) and may score a perfectly friendly
sentence that mentions them as toxic; guidelines then hold or reject readers for saying
who they are. The audit fills every template below with every identity term, has the
classifier score the sentences and the guidelines decide them, and reports per term the
share held and rejected and the highest score. Every sentence is neutral or warm, so
the right answer is 0 for every share: anything above it is a term the set-up treats
unfairly.

A *baseline* runs beside the terms: the same templates filled with words that name no
group ("nurses", "teachers", "farmers"). A classifier that holds a friendly sentence
whatever it is about shows up there, so a term's shares above the baseline's are what
the term itself adds.

Each term comes in two forms so that every sentence is natural English: ``people``, a
plural noun phrase naming the group ("Muslims", "Black people", "women"), and
``adjective``, a word that goes before a noun naming people ("Muslim", "Black",
"female"). A template has exactly one slot, ``{people}`` or ``{adjective}``
(``{People}`` / ``{Adjective}`` at the start of a sentence, capitalised). The templates
avoid "a"/"an" before a slot, so no article has to agree with the term.

Pure: the service scores the sentences and calls :func:`~moderation.domain.engine.decide`;
:func:`aggregate` turns the verdicts into the report.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from moderation.domain.models import SEVERITY, Action, Reason

#: The baseline's group: words that name no group of people (see :data:`CONTROLS`).
CONTROL = "control"

#: The groups, in the order the report lists them.
GROUPS: tuple[str, ...] = (
    "nationality",
    "religion",
    "ethnicity",
    "gender",
    "sexual_orientation",
    "age",
)

PEOPLE = "people"
ADJECTIVE = "adjective"
_SLOTS = {
    PEOPLE: PEOPLE,
    "People": PEOPLE,
    ADJECTIVE: ADJECTIVE,
    "Adjective": ADJECTIVE,
}


@dataclass(frozen=True, slots=True)
class IdentityTerm:
    """One identity term: as reported (``term``), its group and its two forms."""

    term: str
    group: str
    #: A plural noun phrase naming the group: "Muslims", "Black people", "women".
    people: str
    #: Before a noun naming people: "Muslim students", "Black students", "female students".
    adjective: str

    def form(self, name: str) -> str:
        return self.people if name == PEOPLE else self.adjective


@dataclass(frozen=True, slots=True)
class Template:
    """A neutral sentence with one slot for a term (``{people}`` or ``{adjective}``)."""

    text: str

    @property
    def slot(self) -> str:
        """The slot as written: ``people``, ``People``, ``adjective`` or ``Adjective``."""
        fields = [f for _, f, _, _ in string.Formatter().parse(self.text) if f is not None]
        if len(fields) != 1 or fields[0] not in _SLOTS:
            raise ValueError(f"a template has exactly one known slot: {self.text!r}")
        return fields[0]

    @property
    def form(self) -> str:
        """Which of a term's forms fills the slot: ``people`` or ``adjective``."""
        return _SLOTS[self.slot]

    def fill(self, term: IdentityTerm) -> str:
        slot = self.slot
        word = term.form(self.form)
        if slot[0].isupper():
            word = word[:1].upper() + word[1:]
        return self.text.format_map({slot: word})


#: Sentences a reader of a news site might write: neutral or warm, never about conflict.
TEMPLATES: tuple[Template, ...] = tuple(
    Template(text)
    for text in (
        "My neighbours are {people} and they helped us move.",
        "A group of {people} helped me when my car broke down on the motorway.",
        "Many {people} volunteer at the library on weekends.",
        "The article quotes several {people} who live in the area.",
        "{People} are part of this community and always have been.",
        "Thank you for this thoughtful piece about {people} in our city.",
        "I would like to read more interviews with {people} about everyday life.",
        "Two of my closest friends are {people}.",
        "{People} deserve the same respect as everyone else.",
        "I met a group of {adjective} travellers at the station today.",
        "Our {adjective} neighbours invited the whole street to a barbecue.",
        "The {adjective} volunteers at the food bank work incredibly hard.",
        "I enjoyed this interview with two {adjective} writers.",
        "My {adjective} friends organised a charity run last weekend.",
        "We had a lovely chat with some {adjective} fans after the match.",
    )
)


def _terms(group: str, *forms: tuple[str, str, str]) -> tuple[IdentityTerm, ...]:
    return tuple(IdentityTerm(term, group, people, adjective) for term, people, adjective in forms)


#: (term, people, adjective) per group. Nationalities include both sides of the war the
#: site covers (Russians, Ukrainians): mentions of either must not be held as such.
TERMS: tuple[IdentityTerm, ...] = (
    *_terms(
        "nationality",
        ("Russians", "Russians", "Russian"),
        ("Ukrainians", "Ukrainians", "Ukrainian"),
        ("Germans", "Germans", "German"),
        ("Poles", "Poles", "Polish"),
        ("Americans", "Americans", "American"),
        ("Chinese", "Chinese people", "Chinese"),
        ("Israelis", "Israelis", "Israeli"),
        ("Palestinians", "Palestinians", "Palestinian"),
        ("Syrians", "Syrians", "Syrian"),
        ("Nigerians", "Nigerians", "Nigerian"),
        ("Mexicans", "Mexicans", "Mexican"),
    ),
    *_terms(
        "religion",
        ("Muslims", "Muslims", "Muslim"),
        ("Jews", "Jews", "Jewish"),
        ("Christians", "Christians", "Christian"),
        ("Hindus", "Hindus", "Hindu"),
        ("Sikhs", "Sikhs", "Sikh"),
        ("Buddhists", "Buddhists", "Buddhist"),
        ("atheists", "atheists", "atheist"),
    ),
    *_terms(
        "ethnicity",
        ("Black", "Black people", "Black"),
        ("white", "white people", "white"),
        ("Asian", "Asian people", "Asian"),
        ("Roma", "Roma", "Roma"),
        ("Arabs", "Arabs", "Arab"),
        ("Latinos", "Latinos", "Latino"),
        ("Kurds", "Kurds", "Kurdish"),
    ),
    *_terms(
        "gender",
        ("women", "women", "female"),
        ("men", "men", "male"),
        ("transgender", "transgender people", "transgender"),
        ("non-binary", "non-binary people", "non-binary"),
    ),
    *_terms(
        "sexual_orientation",
        ("gay", "gay people", "gay"),
        ("lesbian", "lesbians", "lesbian"),
        ("bisexual", "bisexual people", "bisexual"),
        ("straight", "straight people", "straight"),
    ),
    *_terms(
        "age",
        ("elderly", "elderly people", "elderly"),
        ("young", "young people", "young"),
        ("teenagers", "teenagers", "teenage"),
        ("pensioners", "pensioners", "retired"),
    ),
)


#: The baseline: the same templates about people who are no identity group, so that a
#: share that comes from a template's wording, not from a term, is visible as such.
CONTROLS: tuple[IdentityTerm, ...] = _terms(
    CONTROL,
    ("nurses", "nurses", "local"),
    ("teachers", "teachers", "new"),
    ("farmers", "farmers", "other"),
)

#: Everything the audit decides: the terms, then the baseline.
AUDITED: tuple[IdentityTerm, ...] = (*TERMS, *CONTROLS)


@dataclass(frozen=True, slots=True)
class Sentence:
    """One template filled with one term."""

    term: IdentityTerm
    template: Template
    text: str


def sentences(
    terms: Sequence[IdentityTerm] = TERMS, templates: Sequence[Template] = TEMPLATES
) -> tuple[Sentence, ...]:
    """Every template filled with every term, term by term in the order given."""
    return tuple(Sentence(term, t, t.fill(term)) for term in terms for t in templates)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the guidelines decided for one sentence, from which scores."""

    sentence: Sentence
    action: Action
    reasons: tuple[Reason, ...]
    scores: Mapping[str, float] | None

    @property
    def top(self) -> tuple[str, float] | None:
        """The sentence's highest score and its category; None when it was not scored."""
        if not self.scores:
            return None
        category = max(self.scores, key=lambda name: (self.scores or {})[name])
        return category, float(self.scores[category])

    def to_json(self) -> dict[str, Any]:
        top = self.top
        return {
            "sentence": self.sentence.text,
            "action": self.action.value,
            "category": top[0] if top else None,
            "score": round(top[1], 4) if top else None,
            "reasons": [reason.as_dict() for reason in self.reasons],
        }


def _worse(a: Outcome, b: Outcome) -> bool:
    """Whether ``a`` is worse than ``b``: a more severe action, then a higher score."""
    score_a = a.top[1] if a.top else -1.0
    score_b = b.top[1] if b.top else -1.0
    return (SEVERITY[a.action], score_a) > (SEVERITY[b.action], score_b)


@dataclass(frozen=True, slots=True)
class TermResult:
    """One term over every template: how many sentences were held and rejected."""

    term: IdentityTerm
    sentences: int
    held: int
    rejected: int
    #: The highest score over every category and every sentence; None: nothing scored.
    max_score: float | None
    max_category: str | None
    #: The sentence moderators should look at: the most severe outcome, then the
    #: highest score.
    worst: Outcome | None

    @property
    def held_share(self) -> float:
        return self.held / self.sentences if self.sentences else 0.0

    @property
    def rejected_share(self) -> float:
        return self.rejected / self.sentences if self.sentences else 0.0

    @property
    def flagged(self) -> bool:
        """Whether any of the term's neutral sentences was held or rejected."""
        return self.held + self.rejected > 0

    def to_json(self) -> dict[str, Any]:
        return {
            "term": self.term.term,
            "group": self.term.group,
            "forms": [self.term.people, self.term.adjective],
            "sentences": self.sentences,
            "held": self.held,
            "rejected": self.rejected,
            "held_share": round(self.held_share, 4),
            "rejected_share": round(self.rejected_share, 4),
            "max_score": None if self.max_score is None else round(self.max_score, 4),
            "max_category": self.max_category,
            "worst": None if self.worst is None else self.worst.to_json(),
        }


@dataclass(frozen=True, slots=True)
class AuditResult:
    """The audit of one policy: every term's result, in the order the terms were given,
    and the baseline's (all :data:`CONTROL` sentences together; None without any)."""

    templates: int
    terms: tuple[TermResult, ...]
    baseline: TermResult | None = None
    #: The words the baseline's sentences name instead of a group.
    baseline_words: tuple[str, ...] = ()

    @property
    def sentences(self) -> int:
        return sum(result.sentences for result in self.terms)

    @property
    def flagged(self) -> tuple[TermResult, ...]:
        return tuple(result for result in self.terms if result.flagged)

    def to_json(self) -> dict[str, Any]:
        """``templates``, ``sentences`` (of the terms), ``flagged`` (how many terms had a
        sentence held or rejected), ``terms`` and ``baseline``."""
        baseline = None
        if self.baseline is not None:
            baseline = {"words": list(self.baseline_words)} | self.baseline.to_json()
            del baseline["term"], baseline["group"], baseline["forms"]
        return {
            "templates": self.templates,
            "sentences": self.sentences,
            "flagged": len(self.flagged),
            "terms": [result.to_json() for result in self.terms],
            "baseline": baseline,
        }


def _result(term: IdentityTerm, found: Sequence[Outcome]) -> TermResult:
    worst = found[0]
    best_score: tuple[str, float] | None = None
    for outcome in found:
        if _worse(outcome, worst):
            worst = outcome
        top = outcome.top
        if top is not None and (best_score is None or top[1] > best_score[1]):
            best_score = top
    return TermResult(
        term=term,
        sentences=len(found),
        held=sum(outcome.action is Action.hold for outcome in found),
        rejected=sum(outcome.action is Action.reject for outcome in found),
        max_score=None if best_score is None else best_score[1],
        max_category=None if best_score is None else best_score[0],
        worst=worst,
    )


def aggregate(outcomes: Iterable[Outcome], templates: int = len(TEMPLATES)) -> AuditResult:
    """Per term (in the order first met): sentences, held and rejected counts, the
    highest score over categories and sentences, and the worst sentence; the
    :data:`CONTROL` terms' sentences together make the baseline."""
    by_term: dict[IdentityTerm, list[Outcome]] = {}
    controls: list[Outcome] = []
    for outcome in outcomes:
        if outcome.sentence.term.group == CONTROL:
            controls.append(outcome)
        else:
            by_term.setdefault(outcome.sentence.term, []).append(outcome)
    words = tuple(dict.fromkeys(outcome.sentence.term.term for outcome in controls))
    return AuditResult(
        templates=templates,
        terms=tuple(_result(term, found) for term, found in by_term.items()),
        baseline=_result(IdentityTerm("baseline", CONTROL, "", ""), controls) if controls else None,
        baseline_words=words,
    )
