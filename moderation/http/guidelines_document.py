"""The guidelines *document*: validation of the JSON/TOML form.

One pydantic model validates what admins send (``PUT /v1/guidelines``, backtests,
shadow runs) and the TOML file loaded at first start; what it accepts is stored in
its canonical JSON form (:meth:`GuidelinesDocument.to_json`), which the services turn
into domain objects with :func:`moderation.domain.guidelines.from_document`.
Validation errors carry a field path and a reason, never the submitted value.
"""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from moderation.domain.guidelines import (
    CATEGORIES,
    DEFAULT_APPEAL_DAYS,
    DEFAULT_EXAMPLE_HOLD_AT,
    DEFAULT_EXAMPLE_MARGIN,
    DEFAULT_EXAMPLE_REJECT_AT,
    MAX_EXAMPLE_CHARS,
    MAX_EXAMPLES,
    MAX_EXAMPLES_IN_ALL,
    MIN_APPEAL_DAYS,
    SECTION_KEYS,
    Guidelines,
    Override,
    Rule,
    RuleOverride,
    example_key,
    from_document,
    rule_from_document,
    rule_override_from_document,
)
from moderation.http.parsing import validate

Threshold = Annotated[float | None, Field(ge=0.0, le=1.0)]
#: A rule's example: a comment as readers write them, up to ``MAX_EXAMPLE_CHARS``.
Example = Annotated[str, Field(min_length=1, max_length=MAX_EXAMPLE_CHARS)]
MAX_CLASSIFIERS = 32
"""Classifiers a rule (or an override of it) may set thresholds for: the check that
overrides keep their rules' thresholds ordered visits each one per override."""
RuleId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
Term = Annotated[str, Field(min_length=1, max_length=100)]
ClassifierName = Annotated[
    str, Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9:_.-]*$")
]


def _false_is_null(value: Any) -> Any:
    # TOML has no null, so `false` spells "no threshold"; `true` is meaningless.
    if value is False:
        return None
    if value is True:
        raise ValueError("a threshold is a number in [0, 1], null or false")
    return value


def _not_a_bool(value: Any) -> Any:
    # pydantic reads `false` as 0.0 and `true` as 1.0: for a resemblance floor, silently
    # "hold everything" or "hold nothing".
    if isinstance(value, bool):
        raise ValueError("a resemblance is a number in [0, 1]")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClassifierThresholdsDoc(_Strict):
    """Thresholds for one classifier; absent keys fall back, null/false disables."""

    hold_at: Threshold = None
    reject_at: Threshold = None

    _nullable = field_validator("hold_at", "reject_at", mode="before")(_false_is_null)

    @model_serializer(mode="wrap")
    def _only_given(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if k in self.model_fields_set}


class RuleDoc(_Strict):
    id: RuleId
    category: str
    title: str = Field(min_length=1, max_length=200)
    guideline: str = Field(min_length=1, max_length=20)
    hold_at: Threshold = None
    reject_at: Threshold = None
    classifiers: dict[ClassifierName, ClassifierThresholdsDoc] = Field(
        default_factory=dict, max_length=MAX_CLASSIFIERS
    )
    # Comments that break the rule and comments close to it that do not (learned ones too).
    examples: list[Example] = Field(default_factory=list, max_length=MAX_EXAMPLES)
    counterexamples: list[Example] = Field(default_factory=list, max_length=MAX_EXAMPLES)
    # This rule's own resemblance that holds (null, false or absent: the document's
    # example_hold_at). Left out of the stored form when unset, so that documents stored
    # before it existed do not differ from new ones by a null on every rule.
    example_hold_at: float | None = Field(default=None, ge=0.0, le=1.0)

    _nullable = field_validator("hold_at", "reject_at", "example_hold_at", mode="before")(
        _false_is_null
    )

    @model_serializer(mode="wrap")
    def _floor_when_set(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("example_hold_at") is None:
            data.pop("example_hold_at", None)
        return data

    @field_validator("examples", "counterexamples")
    @classmethod
    def _distinct_examples(cls, texts: list[str]) -> list[str]:
        seen: set[str] = set()
        for index, text in enumerate(texts):
            key = example_key(text)
            if not key:
                raise ValueError(f"example {index} is blank")
            if key in seen:
                raise ValueError(f"example {index} is a duplicate")
            seen.add(key)
        return [text.strip() for text in texts]

    @model_validator(mode="after")
    def _examples_not_both(self) -> RuleDoc:
        both = {example_key(t) for t in self.examples} & {
            example_key(t) for t in self.counterexamples
        }
        if both:
            raise ValueError("a text is both an example and a counterexample")
        if self.counterexamples and not self.examples:
            raise ValueError("counterexamples need examples beside them")
        return self

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        if value not in CATEGORIES:
            raise ValueError(f"unknown category; expected one of: {', '.join(CATEGORIES)}")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> RuleDoc:
        _check_order(self.hold_at, self.reject_at, "hold_at must not be above reject_at")
        domain = self.to_domain()
        for name in self.classifiers:
            hold, reject = domain.thresholds_for(name)
            _check_order(hold, reject, f"classifiers.{name}: hold_at must not be above reject_at")
        return self

    def to_domain(self) -> Rule:
        return rule_from_document(self.model_dump(mode="json"))


class RuleOverrideDoc(_Strict):
    id: RuleId
    hold_at: Threshold = None
    reject_at: Threshold = None
    classifiers: dict[ClassifierName, ClassifierThresholdsDoc] = Field(
        default_factory=dict, max_length=MAX_CLASSIFIERS
    )

    _nullable = field_validator("hold_at", "reject_at", mode="before")(_false_is_null)

    @model_serializer(mode="wrap")
    def _only_given(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if k in self.model_fields_set or k == "id"}

    def to_domain(self) -> RuleOverride:
        return rule_override_from_document(self.model_dump(mode="json"))


class OverrideDoc(_Strict):
    article_tags: list[Term] = Field(min_length=1, max_length=100)
    rules: list[RuleOverrideDoc] = Field(min_length=1, max_length=100)


class AutoPremoderationDoc(_Strict):
    """Off unless set: an author with this many rejected comments in ``days`` is premoderated."""

    rejections: int = Field(ge=1, le=1000)
    days: int = Field(ge=1, le=365)


class GuidelinesDocument(_Strict):
    """The contract's guidelines document (plus ``sections``), as admins send it."""

    rules: list[RuleDoc] = Field(min_length=1, max_length=200)
    banned_terms: list[Term] = Field(default_factory=list, max_length=5000)
    suspect_terms: list[Term] = Field(default_factory=list, max_length=5000)
    hold_links: bool = True
    report_threshold: int = Field(default=3, ge=1, le=10_000)
    claim_seconds: int = Field(default=300, ge=10, le=86_400)
    # How long an author may appeal a restricting decision: at least six months (EU DSA
    # Art. 20(1)), at most ten years.
    appeal_days: int = Field(default=DEFAULT_APPEAL_DAYS, ge=MIN_APPEAL_DAYS, le=3_650)
    overrides: list[OverrideDoc] = Field(default_factory=list, max_length=200)
    sections: dict[str, str] = Field(default_factory=dict)
    auto_premoderate: AutoPremoderationDoc | None = None
    # Resemblance to a rule's examples that holds, and that rejects (domain/examples.py).
    example_hold_at: float = Field(default=DEFAULT_EXAMPLE_HOLD_AT, ge=0.0, le=1.0)
    example_reject_at: Threshold = DEFAULT_EXAMPLE_REJECT_AT
    example_margin: float = Field(default=DEFAULT_EXAMPLE_MARGIN, ge=0.0, le=1.0)
    unsupported_language: Literal["hold", "approve"] = "hold"

    _nullable_example = field_validator("example_reject_at", mode="before")(_false_is_null)
    _numbers = field_validator("example_hold_at", "example_margin", mode="before")(_not_a_bool)
    # Read-only fields of GET's answer, accepted so GET -> edit -> PUT works; ignored.
    version: int | None = Field(default=None, exclude=True)
    created_by: str | None = Field(default=None, exclude=True)
    created_at: str | None = Field(default=None, exclude=True)
    note: str | None = Field(default=None, exclude=True)
    changes: list[Any] | None = Field(default=None, exclude=True)

    @field_validator("banned_terms", "suspect_terms")
    @classmethod
    def _sane_terms(cls, terms: list[str]) -> list[str]:
        seen: set[str] = set()
        for index, term in enumerate(terms):
            stripped = term.strip()
            if not stripped:
                raise ValueError(f"term {index} is blank")
            if len(stripped) < 2:
                raise ValueError(f"term {index} is shorter than 2 characters")
            if not any(ch.isalnum() for ch in stripped):
                raise ValueError(f"term {index} has no letter or digit")
            if stripped.casefold() in seen:
                raise ValueError(f"term {index} is a duplicate")
            seen.add(stripped.casefold())
        return [t.strip() for t in terms]

    @field_validator("sections")
    @classmethod
    def _known_sections(cls, sections: dict[str, str]) -> dict[str, str]:
        for key, value in sections.items():
            if key not in SECTION_KEYS:
                raise ValueError(f"unknown section key; expected: {', '.join(SECTION_KEYS)}")
            if not value or len(value) > 20:
                raise ValueError("a section reference is 1 to 20 characters")
        return sections

    @model_validator(mode="after")
    def _consistent(self) -> GuidelinesDocument:
        taught = sum(len(rule.examples) + len(rule.counterexamples) for rule in self.rules)
        if taught > MAX_EXAMPLES_IN_ALL:
            raise ValueError(f"at most {MAX_EXAMPLES_IN_ALL} examples in all")
        _check_order(
            self.example_hold_at,
            self.example_reject_at,
            "example_hold_at must not be above example_reject_at",
        )
        for ruled in self.rules:
            _check_order(
                ruled.example_hold_at,
                self.example_reject_at,
                f"rule {ruled.id}: example_hold_at must not be above example_reject_at",
            )
        ids = [rule.id for rule in self.rules]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate rule ids: {', '.join(duplicates)}")
        known = set(ids)
        base = {rule.id: rule.to_domain() for rule in self.rules}
        for index, override in enumerate(self.overrides):
            for change in override.rules:
                if change.id not in known:
                    raise ValueError(f"overrides.{index} names unknown rule {change.id}")
                # The override's thresholds, applied to its rule, must still be ordered.
                tags = frozenset(t.casefold() for t in override.article_tags)
                probe = Guidelines(
                    rules=(base[change.id],),
                    overrides=(
                        Override(
                            article_tags=tuple(override.article_tags), rules=(change.to_domain(),)
                        ),
                    ),
                )
                rule = probe.rules_for_tags(tags)[0]
                names = {"", *rule.classifiers}
                for name in names:
                    hold, reject = (
                        rule.thresholds_for(name) if name else (rule.hold_at, rule.reject_at)
                    )
                    _check_order(
                        hold,
                        reject,
                        f"overrides.{index}: rule {change.id} would hold above its reject",
                    )
        return self

    def to_domain(self, version: int = 0) -> Guidelines:
        return from_document(self.to_json(), version)

    def to_json(self) -> dict[str, Any]:
        """The canonical stored/returned form."""
        return self.model_dump(mode="json")


def _check_order(hold: float | None, reject: float | None, message: str) -> None:
    if hold is not None and reject is not None and hold > reject:
        raise ValueError(message)


def read_toml(path: Path) -> dict[str, Any]:
    """A guidelines TOML file, validated, in canonical JSON form (what is stored)."""
    return load_toml(path).to_json()


def load_toml(path: Path) -> GuidelinesDocument:
    """Read and validate a guidelines TOML file (``MODERATION_GUIDELINES``)."""
    with path.open("rb") as handle:
        return GuidelinesDocument.model_validate(tomllib.load(handle))


async def parse_document(value: Any) -> dict[str, Any]:
    """``value`` validated as a guidelines document (a 422 listing each problem), in its
    canonical stored form. In a worker thread: an admin's document may hold thousands of
    terms, examples and overrides, and checking them all would hold the event loop."""
    return await asyncio.to_thread(lambda: validate(GuidelinesDocument, value).to_json())
