"""The cases as columns, and deciding them all at once: :class:`Frame`, :func:`decide_many`.

Every per-case verdict equals what :func:`moderation.domain.engine.decide` would
return for the case's text, stored scores, classifier, article tags and mode, and
author status; a deleted text (``None``) is decided as the empty text, so term and
link checks find nothing. Verdicts are computed as severity indices (positions in
:data:`ACTIONS`), one numpy column per policy.

Speed: 100,000 cases must take well under a second, and ``decide`` costs tens of
µs a comment, almost all of it the term and link scans. So:

* Thresholds are resolved once per (article tags, classifier) pair and policy and
  compared column-wise with numpy; the score dicts are read once and shared by
  the proposed and the current policy.
* Term and link checks run the real matchers only on texts that pass a cheap,
  *sound* prefilter over all texts at once
  (:class:`moderation.textmatch.prefilter.TextBatch`): a text the prefilter drops
  provably has no match, so the result is exact, and the matchers see only the
  few texts that might. Equal term lists (the proposed and the current policy,
  usually) are matched once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat
from operator import attrgetter

import numpy as np
import numpy.typing as npt

from moderation.domain.engine import Policy
from moderation.domain.examples import Vectors, resemblance
from moderation.domain.guidelines import Rule
from moderation.domain.models import Action, ArticleMode, AuthorStatus
from moderation.domain.records import Case
from moderation.textmatch.prefilter import TextBatch

__all__ = [
    "ACTIONS",
    "APPROVE",
    "HOLD",
    "REJECT",
    "Bools",
    "Floats",
    "Frame",
    "Int8s",
    "decide_many",
]

Int8s = npt.NDArray[np.int8]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Positions = npt.NDArray[np.intp]

# The actions in order of severity: a verdict is its action's index here, and the
# backtest's matrices are rows and columns in this order.
ACTIONS: tuple[Action, Action, Action] = (Action.approve, Action.hold, Action.reject)
APPROVE, HOLD, REJECT = 0, 1, 2  # severity indices, as moderation.domain.models.SEVERITY
_NO_MODERATOR = -1
_EMBEDDING_CHUNK = 8192
_NAN = float("nan")
_EMPTY_SCORES: dict[str, float] = {}

# Action is a StrEnum, so it hashes and compares as its string, in C: a plain dict
# lookup through map() is the cheapest way to turn 100,000 of them into numbers.
_SEVERITY_OF: dict[str | None, int] = {None: _NO_MODERATOR}
_SEVERITY_OF.update({action.value: index for index, action in enumerate(ACTIONS)})


def decide_many(policy: Policy, cases: Iterable[Case]) -> list[Action]:
    """The action :func:`moderation.domain.engine.decide` gives each case, in order, fast.

    The same computation as :func:`~moderation.backtest.backtest`'s, for callers
    that need the per-case outcome (and for checking it against the engine).
    """
    items = cases if isinstance(cases, list | tuple) else list(cases)
    frame = Frame(items, [policy])
    severity = frame.decide(policy)
    return [ACTIONS[i] for i in severity.tolist()]


def _severity_column(actions: Iterable[Action | None], *, moderator: bool) -> Int8s:
    column = list(map(_SEVERITY_OF.get, actions))
    if None in column:
        raise ValueError("a decision is not approve, hold or reject")
    array = np.array(column, dtype=np.int8)
    if moderator:
        # A moderator "hold" is not a verdict; only approve/reject are evidence.
        array[array == HOLD] = _NO_MODERATOR
    elif (array < 0).any():
        raise ValueError("a case has no stored decision")
    return array


def _small_ints(values: list[int] | list[bool]) -> Int8s:
    # bytes() converts a list of small ints in C, several times faster than np.array.
    return np.frombuffer(bytes(values), dtype=np.int8).copy()


def _score_column(dicts: list[Mapping[str, float]], category: str, *, plain: bool) -> Floats:
    if plain:
        # Plain dicts (what storage hands over): dict.get mapped in C, no bytecode
        # per case.
        values = map(dict.get, dicts, repeat(category), repeat(_NAN))  # type: ignore[arg-type]
        return np.fromiter(values, dtype=np.float64, count=len(dicts))
    return np.array([d.get(category, _NAN) for d in dicts], dtype=np.float64).reshape(len(dicts))


class Frame:
    """The cases as columns, read once and shared by every policy decided.

    The texts are a :class:`TextBatch`, which keeps its answers, so policies with
    equal term lists pay for one term check.
    """

    def __init__(self, items: Sequence[Case], policies: Sequence[Policy]) -> None:
        n = len(items)
        self.texts = TextBatch(list(map(attrgetter("text"), items)))
        self.stored = _severity_column(map(attrgetter("decided"), items), moderator=False)
        self.moderator = _severity_column(map(attrgetter("moderator"), items), moderator=True)

        banned, premoderated = AuthorStatus.banned, AuthorStatus.premoderated
        author = [
            REJECT if s is banned else HOLD if s is premoderated else APPROVE
            for s in map(attrgetter("author_status"), items)
        ]
        premoderate = ArticleMode.premoderate
        article = [m is premoderate for m in map(attrgetter("article_mode"), items)]
        scores: list[Mapping[str, float] | None] = list(map(attrgetter("scores"), items))
        unscored = [s is None for s in scores]
        # Author/article context and an unavailable classifier do not depend on
        # the policy, so they form the base every policy starts from.
        self.base: Int8s = np.maximum(
            _small_ints(author), _small_ints(article) | _small_ints(unscored)
        )

        dicts = [_EMPTY_SCORES if s is None else s for s in scores]
        plain = set(map(type, dicts)) <= {dict}
        wanted = {rule.category for policy in policies for rule in policy.guidelines.rules}
        # A missing category reads as NaN, which compares false with every
        # threshold: exactly the engine's "skip a category the classifier lacks".
        self.columns: dict[str, Floats] = {
            category: _score_column(dicts, category, plain=plain) for category in sorted(wanted)
        }

        # Thresholds depend on (article tags, classifier) only, and real data has
        # few distinct pairs: number them and resolve each pair once per policy.
        # Each case names the first case with its tags and the first with its
        # classifier, and np.unique numbers the pairs: C-level passes that build
        # no tuple per case (a (tags, classifier) key per case cost more than all
        # the rest of this setup, garbage collection included).
        tags: list[frozenset[str]] = list(map(attrgetter("article_tags"), items))
        names: list[str] = list(map(attrgetter("classifier"), items))
        first_tags: dict[frozenset[str], int] = {}
        first_name: dict[str, int] = {}
        pair = np.array(list(map(first_tags.setdefault, tags, range(n))), dtype=np.int64) * n
        pair += np.array(list(map(first_name.setdefault, names, range(n))), dtype=np.int64)
        pairs, group = np.unique(pair, return_inverse=True)
        self.group: npt.NDArray[np.intp] = group.reshape(n).astype(np.intp)
        self.keys: list[tuple[frozenset[str], str]] = [
            (tags[p // n], names[p % n]) for p in pairs.tolist()
        ]
        # Stored embeddings (float16 bytes), decoded a chunk at a time when a policy
        # teaches by example: 100,000 of them as float32 would take 150 MB at once.
        self.embeddings: list[bytes | None] = list(map(attrgetter("embedding"), items))
        self.embedded: Bools = np.fromiter(
            (e is not None for e in self.embeddings), dtype=np.bool_, count=n
        )

    def decide(self, policy: Policy) -> Int8s:
        """Per-case severity index of the action ``decide`` gives under ``policy``."""
        severity = np.maximum(self.base, self._text_severity(policy))
        if policy.examples and self.embedded.any():
            np.maximum(severity, self._example_severity(policy), out=severity)
        for category, holds, rejects in _threshold_checks(policy, self.keys):
            scores = self.columns[category]
            np.maximum(severity, (scores >= holds[self.group]).view(np.int8), out=severity)
            severity[scores >= rejects[self.group]] = REJECT
        return severity

    def _example_severity(self, policy: Policy) -> Int8s:
        """Per case: what rules taught by example ask for (cases with an embedding only)."""
        guidelines = policy.guidelines
        severity = np.zeros(len(self.embedded), dtype=np.int8)
        rows = np.flatnonzero(self.embedded)
        floors = {rule_id: guidelines.example_hold_for(rule_id) for rule_id in policy.examples}
        for start in range(0, len(rows), _EMBEDDING_CHUNK):
            chunk = rows[start : start + _EMBEDDING_CHUNK]
            vectors = self._vectors(chunk)
            worst = np.zeros(len(chunk), dtype=np.int8)
            for taught in policy.examples.values():
                similar, _ = resemblance(vectors, taught.example_vectors)
                counter, _ = resemblance(vectors, taught.counter_vectors)
                wins = (similar >= counter + guidelines.example_margin) & (
                    similar >= floors[taught.rule_id]
                )
                np.maximum(worst, wins.view(np.int8), out=worst)
                if guidelines.example_reject_at is not None:
                    worst[wins & (similar >= guidelines.example_reject_at)] = REJECT
            severity[chunk] = worst
        return severity

    def _vectors(self, rows: Positions) -> Vectors:
        packed = b"".join(self.embeddings[i] for i in rows.tolist())
        return np.frombuffer(packed, dtype=np.float16).reshape(len(rows), -1).astype(np.float32)

    def _text_severity(self, policy: Policy) -> Int8s:
        """Per case: REJECT for a banned term, else HOLD for a suspect term or a held link."""
        guidelines = policy.guidelines
        severity = np.zeros(len(self.texts), dtype=np.int8)
        if guidelines.hold_links:
            severity[self.texts.link_mask()] = HOLD
        suspect, banned = self.texts.term_masks(
            [(guidelines.suspect_terms, policy.suspect), (guidelines.banned_terms, policy.banned)]
        )
        severity[suspect] = HOLD
        severity[banned] = REJECT
        return severity


def _threshold_checks(
    policy: Policy, keys: Sequence[tuple[frozenset[str], str]]
) -> list[tuple[str, Floats, Floats]]:
    """Per rule: its category and (hold_at, reject_at) per (tags, classifier) group.

    NaN stands for "no threshold": it compares false with every score. A rule
    whose category differs between groups (possible only with duplicate rule ids,
    which validated guidelines never have) gives one check per category.
    """
    guidelines = policy.guidelines
    shape = (len(keys), len(guidelines.rules))
    holds = np.full(shape, np.nan)
    rejects = np.full(shape, np.nan)
    categories = [[rule.category for rule in guidelines.rules] for _ in keys]
    by_tags: dict[frozenset[str], tuple[Rule, ...]] = {}
    for row, (tags, classifier) in enumerate(keys):
        rules = by_tags.get(tags)
        if rules is None:
            rules = by_tags[tags] = guidelines.rules_for_tags(tags)
        for column, rule in enumerate(rules):
            categories[row][column] = rule.category
            hold, reject = rule.thresholds_for(classifier)
            if hold is not None:
                holds[row, column] = hold
            if reject is not None:
                rejects[row, column] = reject
    checks: list[tuple[str, Floats, Floats]] = []
    for column in range(shape[1]):
        names = np.array([row[column] for row in categories], dtype=object)
        for category in dict.fromkeys(names.tolist()):
            other = names != category
            checks.append(
                (
                    category,
                    np.where(other, np.nan, holds[:, column]),
                    np.where(other, np.nan, rejects[:, column]),
                )
            )
    return checks
