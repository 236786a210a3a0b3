"""Community guidelines as data: the domain form of the guidelines document.

The JSON/TOML document (see ``CONTRACT.md`` and ``guidelines/default.toml``) is
validated at the edge (:mod:`moderation.http.guidelines_document`), stored as canonical
JSON, and turned into these
frozen dataclasses, which the decision engine reads.

Thresholds per classifier
-------------------------
Backends are not on one scale (the ``linear`` model gives 0.98 to "damn"), so a
rule may carry ``classifiers``: a map from a classifier name (``"linear"``,
``"detoxify:unbiased"``) or a family (``"detoxify"``) to its own ``hold_at`` /
``reject_at``. Lookup order for each of the two values: the exact classifier
name, then its family (the part before ``:``), then the rule's plain value.
A key that is present with ``null`` (``false`` in TOML, which has no null)
disables that threshold for that classifier; an absent key falls back.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from classifiers.base import CATEGORIES as CATEGORIES  # rules name these categories

SECTION_KEYS: tuple[str, ...] = (
    "banned_term",
    "suspect_term",
    "link",
    "author",
    "article",
    "reader_reports",
    "classifier_unavailable",
    "unsupported_language",
)
"""Reasons that are not rules but still cite a guideline section."""


DEFAULT_EXAMPLE_HOLD_AT = 0.3
DEFAULT_EXAMPLE_MARGIN = 0.05
DEFAULT_EXAMPLE_REJECT_AT = 0.85
UNSUPPORTED_LANGUAGE_ACTIONS: tuple[str, ...] = ("hold", "approve")

MAX_EXAMPLE_CHARS = 2000
"""The longest text a rule's example or counterexample may be: shorter than a comment
may be (20,000), so a longer comment cannot become one whole."""
MAX_EXAMPLES = 500
"""Examples of one rule, and as many counterexamples."""
MAX_EXAMPLES_IN_ALL = 5000
"""Examples and counterexamples of all the rules of a document together."""


def example_key(text: str) -> str:
    """What makes two examples the same text: their words, whitespace and case aside
    ("" for a blank text, which no rule may carry)."""
    return " ".join(text.split()).casefold()


class _Unset(enum.Enum):
    UNSET = "unset"


UNSET: Final = _Unset.UNSET
"""Marks a threshold an entry does not set (distinct from ``None``, which disables)."""

MaybeThreshold = float | None | Literal[_Unset.UNSET]


@dataclass(frozen=True, slots=True)
class ClassifierThresholds:
    """Thresholds for one classifier; ``None`` = this value is not overridden."""

    hold_at: MaybeThreshold = UNSET
    reject_at: MaybeThreshold = UNSET


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    category: str
    title: str
    guideline: str
    hold_at: float | None
    reject_at: float | None
    classifiers: Mapping[str, ClassifierThresholds] = field(default_factory=dict)
    #: Comments that break the rule, and comments close to it that do not
    #: (``domain/examples.py``).
    examples: tuple[str, ...] = ()
    counterexamples: tuple[str, ...] = ()
    #: This rule's own ``example_hold_at`` (None: the document's). A few hand-picked
    #: examples cover a rule thinly and need a closer resemblance than many learned ones.
    example_hold_at: float | None = None

    def thresholds_for(self, classifier: str) -> tuple[float | None, float | None]:
        """The (hold_at, reject_at) pair in force for ``classifier``."""
        family = classifier.split(":", 1)[0]
        hold: MaybeThreshold = UNSET
        reject: MaybeThreshold = UNSET
        for key in (classifier, family):
            specific = self.classifiers.get(key)
            if specific is None:
                continue
            if hold is _Unset.UNSET:
                hold = specific.hold_at
            if reject is _Unset.UNSET:
                reject = specific.reject_at
        return (
            self.hold_at if hold is _Unset.UNSET else hold,
            self.reject_at if reject is _Unset.UNSET else reject,
        )


DEFAULT_APPEAL_DAYS = 183
"""Six months and a day or two: the shortest appeal window the EU DSA allows (Art. 20(1))."""
MIN_APPEAL_DAYS = DEFAULT_APPEAL_DAYS


@dataclass(frozen=True, slots=True)
class RuleOverride:
    """Replaces some thresholds of one rule for articles with matching tags."""

    id: str
    hold_at: MaybeThreshold = UNSET
    reject_at: MaybeThreshold = UNSET
    classifiers: Mapping[str, ClassifierThresholds] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Override:
    article_tags: tuple[str, ...]
    rules: tuple[RuleOverride, ...]


@dataclass(frozen=True, slots=True)
class AutoPremoderation:
    """Premoderate an author automatically after ``rejections`` rejected comments in ``days``."""

    rejections: int
    days: int


@dataclass(frozen=True, slots=True)
class Guidelines:
    rules: tuple[Rule, ...]
    banned_terms: tuple[str, ...] = ()
    suspect_terms: tuple[str, ...] = ()
    hold_links: bool = True
    report_threshold: int = 3
    claim_seconds: int = 300
    #: How long the author may appeal a restricting decision (EU DSA Art. 20(1): at least
    #: six months).
    appeal_days: int = DEFAULT_APPEAL_DAYS
    overrides: tuple[Override, ...] = ()
    sections: Mapping[str, str] = field(default_factory=dict)
    auto_premoderate: AutoPremoderation | None = None
    #: Resemblance to a rule's examples that holds a comment, and that rejects it.
    example_hold_at: float = DEFAULT_EXAMPLE_HOLD_AT
    example_reject_at: float | None = DEFAULT_EXAMPLE_REJECT_AT
    #: How much more a comment must resemble the examples than the counterexamples.
    example_margin: float = DEFAULT_EXAMPLE_MARGIN
    #: What happens to a comment in a language the classifier cannot read: "hold" or
    #: "approve" (on the classifier's scores, as if it could).
    unsupported_language: str = "hold"
    version: int = 0

    def example_hold_for(self, rule_id: str) -> float:
        """The resemblance to rule ``rule_id``'s examples that holds a comment."""
        for rule in self.rules:
            if rule.id == rule_id and rule.example_hold_at is not None:
                return rule.example_hold_at
        return self.example_hold_at

    def rules_for_tags(self, tags: frozenset[str]) -> tuple[Rule, ...]:
        """The rules with every override whose tags meet ``tags`` applied, in order."""
        matching = [
            o for o in self.overrides if tags.intersection(t.casefold() for t in o.article_tags)
        ]
        if not matching:
            return self.rules
        by_id = {rule.id: rule for rule in self.rules}
        for override in matching:
            for change in override.rules:
                base = by_id.get(change.id)
                if base is None:
                    continue
                by_id[change.id] = _apply(base, change)
        return tuple(by_id[rule.id] for rule in self.rules)


def _apply(rule: Rule, change: RuleOverride) -> Rule:
    classifiers = dict(rule.classifiers)
    for name, specific in change.classifiers.items():
        previous = classifiers.get(name, ClassifierThresholds())
        hold = previous.hold_at if specific.hold_at is _Unset.UNSET else specific.hold_at
        reject = previous.reject_at if specific.reject_at is _Unset.UNSET else specific.reject_at
        classifiers[name] = ClassifierThresholds(hold_at=hold, reject_at=reject)
    return Rule(
        id=rule.id,
        category=rule.category,
        title=rule.title,
        guideline=rule.guideline,
        hold_at=rule.hold_at if change.hold_at is _Unset.UNSET else change.hold_at,
        reject_at=rule.reject_at if change.reject_at is _Unset.UNSET else change.reject_at,
        classifiers=classifiers,
        examples=rule.examples,
        counterexamples=rule.counterexamples,
        example_hold_at=rule.example_hold_at,
    )


# -- the document's canonical JSON -> the domain ------------------------------------------
#
# Documents are validated once, at the edge (``moderation.http.guidelines_document``), and
# stored in their canonical JSON form. These read that form back: they trust it, and
# apply the document's defaults to keys that older stored versions lack. A key that is
# present (even as null) sets a threshold; an absent one leaves it unset.


def _thresholds(data: Mapping[str, Any]) -> ClassifierThresholds:
    return ClassifierThresholds(
        hold_at=data.get("hold_at", UNSET),
        reject_at=data.get("reject_at", UNSET),
    )


def _per_classifier(data: Mapping[str, Any]) -> dict[str, ClassifierThresholds]:
    return {name: _thresholds(value) for name, value in (data.get("classifiers") or {}).items()}


def rule_from_document(data: Mapping[str, Any]) -> Rule:
    """One rule of a validated document."""
    return Rule(
        id=data["id"],
        category=data["category"],
        title=data["title"],
        guideline=data["guideline"],
        hold_at=data.get("hold_at"),
        reject_at=data.get("reject_at"),
        classifiers=_per_classifier(data),
        examples=tuple(data.get("examples") or ()),
        counterexamples=tuple(data.get("counterexamples") or ()),
        example_hold_at=data.get("example_hold_at"),
    )


def rule_override_from_document(data: Mapping[str, Any]) -> RuleOverride:
    """One rule's change inside an override of a validated document."""
    return RuleOverride(
        id=data["id"],
        hold_at=data.get("hold_at", UNSET),
        reject_at=data.get("reject_at", UNSET),
        classifiers=_per_classifier(data),
    )


def from_document(document: Mapping[str, Any], version: int = 0) -> Guidelines:
    """The guidelines a validated (canonical JSON) document describes, as ``version``."""
    premoderate = document.get("auto_premoderate")
    return Guidelines(
        rules=tuple(rule_from_document(rule) for rule in document["rules"]),
        banned_terms=tuple(document.get("banned_terms") or ()),
        suspect_terms=tuple(document.get("suspect_terms") or ()),
        hold_links=bool(document.get("hold_links", True)),
        report_threshold=int(document.get("report_threshold", 3)),
        claim_seconds=int(document.get("claim_seconds", 300)),
        appeal_days=int(document.get("appeal_days", DEFAULT_APPEAL_DAYS)),
        overrides=tuple(
            Override(
                article_tags=tuple(override["article_tags"]),
                rules=tuple(rule_override_from_document(r) for r in override["rules"]),
            )
            for override in document.get("overrides") or ()
        ),
        sections=dict(document.get("sections") or {}),
        auto_premoderate=None
        if premoderate is None
        else AutoPremoderation(int(premoderate["rejections"]), int(premoderate["days"])),
        example_hold_at=float(document.get("example_hold_at", DEFAULT_EXAMPLE_HOLD_AT)),
        example_reject_at=document.get("example_reject_at", DEFAULT_EXAMPLE_REJECT_AT),
        example_margin=float(document.get("example_margin", DEFAULT_EXAMPLE_MARGIN)),
        unsupported_language=str(document.get("unsupported_language", "hold")),
        version=version,
    )
