"""The decision engine: scores + text + context + guidelines -> approve / hold / reject.

Pure functions, no I/O. Every triggered check becomes a :class:`Reason`; the
most severe outcome wins (reject > hold > approve); the reader-facing message
cites the guideline sections behind the winning outcome.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from moderation.domain.examples import Embed, ExampleSet, Vectors, compile_examples, resemblances
from moderation.domain.guidelines import Guidelines, Rule
from moderation.domain.models import SEVERITY, Action, ArticleMode, AuthorStatus, Reason, Verdict
from moderation.textmatch import TermMatcher, find_links


@dataclass(frozen=True, slots=True)
class Policy:
    """Guidelines with their term matchers and example vectors compiled once per version."""

    guidelines: Guidelines
    banned: TermMatcher
    suspect: TermMatcher
    #: Rule id -> its examples, embedded; empty when no rule has examples, or without an
    #: encoder (then examples decide nothing).
    examples: Mapping[str, ExampleSet] = field(default_factory=dict)

    @property
    def version(self) -> int:
        return self.guidelines.version

    @property
    def taught(self) -> int:
        """How many examples and counterexamples the guidelines carry."""
        return sum(len(r.examples) + len(r.counterexamples) for r in self.guidelines.rules)


def compile_policy(guidelines: Guidelines, embed: Embed | None = None) -> Policy:
    """Compile ``guidelines``: CPU work (term tries, example vectors), so the service runs
    it off the event loop, once per version."""
    return Policy(
        guidelines=guidelines,
        banned=TermMatcher(guidelines.banned_terms),
        suspect=TermMatcher(guidelines.suspect_terms),
        examples=compile_examples(
            [(r.id, r.examples, r.counterexamples) for r in guidelines.rules], embed
        ),
    )


@dataclass(frozen=True, slots=True)
class Context:
    """What the engine knows about a comment besides its text and scores."""

    article_mode: ArticleMode = ArticleMode.auto
    article_tags: frozenset[str] = frozenset()
    author_status: AuthorStatus = AuthorStatus.active
    #: The comment as the sentence encoder sees it (a unit vector), when one ran.
    embedding: Vectors | None = None
    #: False when the comment is in a language the classifier cannot read.
    language_supported: bool = True
    language: str | None = None


def decide(
    policy: Policy,
    text: str,
    scores: Mapping[str, float] | None,
    classifier: str,
    context: Context = Context(),
) -> Verdict:
    """Decide one comment. ``scores=None`` means the classifier was unavailable."""
    guidelines = policy.guidelines
    section = guidelines.sections.get
    reasons: list[Reason] = []

    if context.author_status is AuthorStatus.banned:
        reasons.append(
            Reason(
                "author_banned",
                Action.reject,
                "this account may no longer comment",
                guideline=section("author"),
            )
        )
    elif context.author_status is AuthorStatus.premoderated:
        reasons.append(
            Reason(
                "author_premoderated",
                Action.hold,
                "comments from this account are reviewed before they are published",
                guideline=section("author"),
            )
        )
    if context.article_mode is ArticleMode.premoderate:
        reasons.append(
            Reason(
                "article_premoderated",
                Action.hold,
                "comments on this article are reviewed before they are published",
                guideline=section("article"),
            )
        )

    if scores is None:
        reasons.append(
            Reason(
                "classifier_unavailable",
                Action.hold,
                "our automatic check is unavailable, so a moderator will review this comment",
                guideline=section("classifier_unavailable"),
            )
        )
    else:
        reasons.extend(
            threshold_reasons(guidelines.rules_for_tags(context.article_tags), scores, classifier)
        )
    if not context.language_supported and guidelines.unsupported_language == "hold":
        reasons.append(
            Reason(
                "unsupported_language",
                Action.hold,
                "our automatic check cannot read this language, "
                "so a moderator will review this comment",
                guideline=section("unsupported_language"),
            )
        )
    if policy.examples and context.embedding is not None:
        reasons.extend(example_reasons(policy, context.embedding))

    banned = policy.banned.find(text)
    if banned:
        reasons.append(
            Reason(
                "banned_term",
                Action.reject,
                "uses language that is never allowed here",
                guideline=section("banned_term"),
                terms=tuple(banned),
            )
        )
    suspect = policy.suspect.find(text)
    if suspect:
        reasons.append(
            Reason(
                "suspect_term",
                Action.hold,
                "uses language a moderator should look at",
                guideline=section("suspect_term"),
                terms=tuple(suspect),
            )
        )
    if guidelines.hold_links and find_links(text):
        reasons.append(
            Reason(
                "link",
                Action.hold,
                "contains a link, which a moderator checks first",
                guideline=section("link"),
            )
        )

    action = max((r.action for r in reasons), key=SEVERITY.__getitem__, default=Action.approve)
    return Verdict(action=action, reasons=tuple(reasons), message=reader_message(action, reasons))


def example_reasons(policy: Policy, embedding: Vectors) -> list[Reason]:
    """The rules whose examples the comment resembles more than their counterexamples."""
    guidelines = policy.guidelines
    rules = {rule.id: rule for rule in guidelines.rules}
    found = []
    for match in resemblances(list(policy.examples.values()), embedding):
        hold_at = guidelines.example_hold_for(match.rule_id)
        action = example_action(
            match.similarity,
            match.counter_similarity,
            hold_at,
            guidelines.example_reject_at,
            guidelines.example_margin,
        )
        if action is Action.approve:
            continue
        rule = rules[match.rule_id]
        found.append(
            Reason(
                "example",
                action,
                f"resembles comments that break the rule: {rule.title}",
                rule=rule.id,
                category=rule.category,
                score=round(match.similarity, 4),
                threshold=guidelines.example_reject_at if action is Action.reject else hold_at,
                guideline=rule.guideline,
                example=match.nearest,
            )
        )
    return found


def example_action(
    similarity: float, counter: float, hold_at: float, reject_at: float | None, margin: float
) -> Action:
    """What one rule's examples ask for, given a comment's resemblance to them and to the
    rule's counterexamples (``domain/examples.py`` explains the rule)."""
    if similarity < counter + margin or similarity < hold_at:
        return Action.approve
    if reject_at is not None and similarity >= reject_at:
        return Action.reject
    return Action.hold


def threshold_reasons(
    rules: Iterable[Rule], scores: Mapping[str, float], classifier: str
) -> list[Reason]:
    """One reason per rule whose category's score reaches its hold or reject threshold."""
    found: list[Reason] = []
    for rule in rules:
        score = scores.get(rule.category)
        if score is None:
            continue  # this classifier does not report the category
        hold_at, reject_at = rule.thresholds_for(classifier)
        if reject_at is not None and score >= reject_at:
            action, threshold = Action.reject, reject_at
        elif hold_at is not None and score >= hold_at:
            action, threshold = Action.hold, hold_at
        else:
            continue
        found.append(
            Reason(
                "threshold",
                action,
                rule.title,
                rule=rule.id,
                category=rule.category,
                score=score,
                threshold=threshold,
                guideline=rule.guideline,
            )
        )
    return found


def reader_message(action: Action, reasons: Iterable[Reason]) -> str:
    """A sentence the website can show the commenter, citing the guideline sections."""
    if action is Action.approve:
        return "Your comment meets our community guidelines and is published."
    cited: list[str] = []
    for reason in reasons:
        if reason.action is not action:
            continue
        text = (
            reason.message[0].lower() + reason.message[1:]
            if reason.code == "threshold"
            else reason.message
        )
        part = f"{text} (guideline {reason.guideline})" if reason.guideline else text
        if part not in cited:
            cited.append(part)
    because = "; ".join(cited)
    if action is Action.reject:
        return (
            f"Your comment was not published because it breaks our community guidelines: {because}."
        )
    return f"Your comment is waiting for a moderator's review: {because}."
