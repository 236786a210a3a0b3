"""Learning from moderators: their decisions become examples the guidelines can adopt.

Every moderator decision is a label. A rejection that names a rule (``rule`` on
``POST /v1/comments/{id}/decision``) says "this comment breaks that rule"; a rejection
that names none is attributed to the one rule behind the automatic decision, if there
was exactly one. An approval of a comment that rules had held says "this does not break
those rules": a counterexample for each.

Perspective clients' ``comments:suggestscore`` calls are labels too
(:func:`feedback_labels`).

``POST /v1/guidelines/learn`` proposes the guidelines in force plus examples drawn from
those labels (an approval that names a rule says the comment was judged against that
rule and found within it: a counterexample too), chosen to generalise rather than to
memorise:

* only the caller's scope teaches: the guidelines are shared, but its labels are its
  own website's comments (and the suggestions sent with its keys), so another
  website's texts never appear in the proposal (its backtest, like every backtest of
  the shared guidelines, counts every scope's comments and names another's samples by
  stored id, without their texts);
* labels whose text is already among the guidelines' examples or counterexamples are
  skipped, and so are those offered before the guidelines were last saved
  (``learning_offers``: an admin saw them and adopted them or left them out), so each
  call proposes what is new since the last learning; offered and not yet followed by a
  save, they are offered again;
* a text labelled both ways for one rule (moderators disagreed) is proposed neither way;
* the comments the guidelines in force get wrong come first (a violation they would
  approve; an allowed comment they would hold by that rule), then the rest;
* a candidate too close to an example already there or already chosen (cosine ≥
  ``NEAR_DUPLICATE``) adds nothing and is skipped, so copy-paste campaigns teach once;
* at most ``per_rule`` new examples and as many counterexamples per rule.

The proposal is a document ``PUT /v1/guidelines`` accepts as it is: texts no rule may
carry (blank, longer than ``MAX_EXAMPLE_CHARS``; never cut, since a cut comment is not
what the moderator judged) are skipped, a counterexample is proposed only for a rule
that has examples (or gains some in the same proposal), and none is added past
``MAX_EXAMPLES`` per rule or ``MAX_EXAMPLES_IN_ALL`` in all. ``learned`` lists exactly
what was added. The proposal comes with a backtest. Nothing changes until an admin
``PUT``s it.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from moderation.backtest import BacktestResult
from moderation.domain.engine import Context, Policy, decide
from moderation.domain.examples import Vectors
from moderation.domain.guidelines import (
    MAX_EXAMPLE_CHARS,
    MAX_EXAMPLES,
    MAX_EXAMPLES_IN_ALL,
    example_key,
)
from moderation.domain.models import Action, utcnow
from moderation.domain.records import CaseFilter, Feedback, Label
from moderation.domain.scopes import to_api
from moderation.services.guidelines import GuidelinesAdmin
from moderation.storage.database import Database
from moderation.storage.repos.learning import Offer
from moderation.workers.scorer import Scorer

NEAR_DUPLICATE = 0.9

VIOLATES = "violates"
ALLOWED = "allowed"


@dataclass(frozen=True, slots=True)
class Learned:
    rule: str
    label: str  # VIOLATES | ALLOWED
    text: str
    comment_id: str

    def to_json(self) -> dict[str, str]:
        return {
            "rule": self.rule,
            "label": self.label,
            "text": self.text,
            "comment_id": self.comment_id,
        }


@dataclass(frozen=True, slots=True)
class Proposal:
    guidelines: dict[str, Any]
    learned: list[Learned]
    backtest: BacktestResult
    labels: int


def attribute(label: Label, rules: set[str]) -> tuple[str, str] | None:
    """(rule, VIOLATES | ALLOWED) a moderator's decision teaches, or None."""
    if label.action is Action.approve and label.rule in rules:
        return label.rule, ALLOWED  # judged against that rule, and found within it
    if label.action is Action.reject:
        if label.rule in rules:
            return label.rule, VIOLATES
        automatic = [r for r in label.auto_rules if r in rules]
        return (automatic[0], VIOLATES) if len(automatic) == 1 else None
    held_by_one_rule = (
        label.auto_action is not None
        and label.auto_action is not Action.approve
        and len(label.auto_rules) == 1
    )
    if label.action is Action.approve and held_by_one_rule:
        rule = label.auto_rules[0]
        return (rule, ALLOWED) if rule in rules else None
    return None


def feedback_labels(
    feedback: Sequence[Feedback], rules: Sequence[Mapping[str, Any]]
) -> list[Label]:
    """Perspective ``suggestscore`` feedback as moderators' labels: a suggested score of
    0.5 or more for an attribute says the text breaks the first rule on that attribute's
    category (Coral sends 1 when its moderators reject, 0 when they approve); below 0.5,
    that it does not. Feedback on a category no rule reads teaches nothing."""
    rule_of: dict[str, str] = {}
    for entry in rules:
        rule_of.setdefault(str(entry.get("category")), str(entry["id"]))
    labels = []
    for item in feedback:
        rule = rule_of.get(item.category)
        if rule is None:
            continue
        labels.append(
            Label(
                comment_id=item.client_token or f"suggestscore:{item.id}",
                text=item.text,
                action=Action.reject if item.value >= 0.5 else Action.approve,
                rule=rule,
                auto_action=None,
                auto_rules=(),
                scores=None,
                classifier=None,
                article_tags=(),
            )
        )
    return labels


def offer_of(rule: str, label: str, text: str) -> Offer:
    """How an offer is remembered (``learning_offers``): the text's digest, not its words."""
    return (rule, label, hashlib.sha256(example_key(text).encode()).hexdigest())


def pending(
    labels: Sequence[Label],
    rules: Sequence[Mapping[str, Any]],
    settled: Collection[Offer] = frozenset(),
) -> list[tuple[Learned, Label]]:
    """The labels that may teach ``rules`` something new, each as what it would teach.

    Skipped: labels that teach no rule, texts a rule may not carry (blank, or longer
    than ``MAX_EXAMPLE_CHARS``), texts the rules already carry, ``settled`` offers (made
    before the guidelines were last saved: an admin adopted or left them out), and texts
    labelled both ways for one rule: a rule may not hold a text as example and
    counterexample, and which moderator was right is an admin's call, not learning's. Of
    the same text labelled the same way twice, the first label counts."""
    taught = {
        example_key(text)
        for rule in rules
        for text in (*rule.get("examples", ()), *rule.get("counterexamples", ()))
    }
    rule_ids = {str(rule["id"]) for rule in rules}
    found: dict[tuple[str, str], dict[str, tuple[Learned, Label]]] = {}
    for label in labels:
        attributed = attribute(label, rule_ids)
        key = example_key(label.text)
        if attributed is None or not key or key in taught:
            continue
        if len(label.text) > MAX_EXAMPLE_CHARS:
            continue
        rule, kind = attributed
        if settled and offer_of(rule, kind, label.text) in settled:
            continue
        found.setdefault((rule, key), {}).setdefault(
            kind, (Learned(rule, kind, label.text, label.comment_id), label)
        )
    return [next(iter(kinds.values())) for kinds in found.values() if len(kinds) == 1]


def adopt(rules: Sequence[dict[str, Any]], chosen: Sequence[Learned]) -> list[Learned]:
    """Add ``chosen`` to ``rules`` (in place) as far as a valid document allows; the
    ones added, in ``chosen``'s order.

    Examples go first, so that a counterexample can count on the examples learned beside
    it; a counterexample of a rule left without examples is dropped (alone it teaches
    nothing, and the document would be refused), and nothing is added past the caps."""
    by_id = {rule["id"]: rule for rule in rules}
    room = MAX_EXAMPLES_IN_ALL - sum(
        len(rule.get("examples", ())) + len(rule.get("counterexamples", ())) for rule in rules
    )
    added: set[Learned] = set()
    for kind, field in ((VIOLATES, "examples"), (ALLOWED, "counterexamples")):
        for item in chosen:
            rule = by_id.get(item.rule)
            if item.label != kind or rule is None or room <= 0:
                continue
            texts = list(rule.get(field, ()))
            if len(texts) >= MAX_EXAMPLES or (kind == ALLOWED and not rule.get("examples")):
                continue
            rule[field] = [*texts, item.text]
            room -= 1
            added.add(item)
    return [item for item in chosen if item in added]


def _wrong(policy: Policy, label: Label, rule: str, kind: str, vector: Vectors) -> bool:
    """Whether the guidelines in force decide ``label``'s comment against the moderator."""
    context = Context(
        article_tags=frozenset(t.casefold() for t in label.article_tags), embedding=vector
    )
    verdict = decide(policy, label.text, label.scores, label.classifier or "", context)
    by_rule = any(r.rule == rule and r.action is not Action.approve for r in verdict.reasons)
    return not by_rule if kind == VIOLATES else by_rule


def _candidates(
    policy: Policy, pending: Sequence[tuple[Learned, Label]], vectors: Vectors
) -> list[tuple[Learned, bool, Vectors]]:
    return [
        (item, _wrong(policy, label, item.rule, item.label, vector), vector)
        for (item, label), vector in zip(pending, vectors, strict=True)
    ]


def choose(
    candidates: Sequence[tuple[Learned, bool, Vectors]],
    existing: Mapping[tuple[str, str], Vectors],
    per_rule: int,
) -> list[Learned]:
    """Pick per (rule, label) up to ``per_rule`` candidates, wrong ones first, none a
    near duplicate of an existing example or of one picked before it."""
    chosen: list[Learned] = []
    kept: dict[tuple[str, str], list[Vectors]] = {}
    ordered = sorted(candidates, key=lambda c: (not c[1], c[0].comment_id))
    for learned, _, vector in ordered:
        key = (learned.rule, learned.label)
        picked = kept.setdefault(key, [])
        if len(picked) >= per_rule:
            continue
        known = existing.get(key)
        rows = [*picked, *(known if known is not None else [])]
        if rows and float(np.max(np.stack(rows) @ vector)) >= NEAR_DUPLICATE:
            continue
        picked.append(vector)
        chosen.append(learned)
    return chosen


@dataclass(slots=True)
class Learning:
    db: Database
    scorer: Scorer
    admin: GuidelinesAdmin

    async def propose(
        self, *, per_rule: int = 12, samples: int = 20, scope: str | None = None
    ) -> Proposal:
        """The guidelines in force plus what the moderators of ``scope`` (the caller's
        website; None: the default scope) teach, backtested on that scope's view.

        Up to 10,000 labels, each text normalised, re-decided and compared: in a turn of
        the admins' bulk thread (``workers/bulk.py``), as backtests are, and embedded in
        the scorer's slices, so readers' comments are scored in between."""
        bulk = self.admin.bulk
        async with bulk.turn():
            current = await self.admin.current()
            document = copy.deepcopy(dict(current.document))
            rules = document["rules"]
            async with self.db.transaction(write=False) as store:
                policy = await self.admin.policies.current(store)
                decided = await store.moderator_labels(scope=scope)
                feedback = await store.feedback(scope=scope)
                offers = await store.learning_offers(scope)
            # "Since the last learning": what was offered before the guidelines were last
            # saved has been seen by an admin, who adopted it or left it out.
            settled = {offer for offer, at in offers.items() if at < current.created_at}
            labels = [
                # The API's ids: the caller knows its comments by those.
                *(replace(label, comment_id=to_api(scope, label.comment_id)) for label in decided),
                *feedback_labels(feedback, rules),
            ]
            candidates = await bulk.call(lambda: pending(labels, rules, settled))
            learned: list[Learned] = []
            # Without the encoder nothing can be judged similar: propose nothing rather
            # than every decided comment verbatim.
            vectors = (
                await self.scorer.embed([item.text for item, _ in candidates])
                if candidates
                else None
            )
            if vectors is not None:
                existing = await self._existing(policy)
                learned = await bulk.call(
                    lambda: adopt(
                        rules, choose(_candidates(policy, candidates, vectors), existing, per_rule)
                    )
                )
            if learned:
                async with self.db.transaction() as store:
                    await store.record_learning_offers(
                        scope, [offer_of(i.rule, i.label, i.text) for i in learned], utcnow()
                    )
            for key in ("version", "created_by", "created_at", "note", "changes"):
                document.pop(key, None)
        result = await self.admin.backtest(document, CaseFilter(), samples, scope=scope)
        return Proposal(document, learned, result, len(labels))

    async def _existing(self, policy: Policy) -> dict[tuple[str, str], Vectors]:
        found: dict[tuple[str, str], Vectors] = {}
        for rule_id, taught in policy.examples.items():
            found[(rule_id, VIOLATES)] = taught.example_vectors
            found[(rule_id, ALLOWED)] = taught.counter_vectors
        return found
