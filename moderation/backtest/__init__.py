"""Backtesting guidelines against stored comments, and threshold suggestions.

Admins tune thresholds with evidence: :func:`backtest` re-decides stored comments
under proposed guidelines from their *stored* scores (no classifier runs) and
compares the outcome with what was decided and with what moderators decided;
:func:`suggest` proposes per-category thresholds from the moderators' history.

Pure and synchronous: the caller loads :class:`Case` rows and serialises the
result (``to_json``). Every per-case verdict equals what
:func:`moderation.domain.engine.decide` would return for the case's text, stored scores,
classifier, article tags and mode, and author status; a deleted text (``None``)
is decided as the empty text, so term and link checks find nothing.

Speed
-----
100,000 cases must take well under a second, and ``decide`` costs tens of µs a
comment, almost all of it the term and link scans. So:

* Thresholds are resolved once per (article tags, classifier) pair and policy and
  compared column-wise with numpy; the score dicts are read once and shared by
  the proposed and the current policy.
* Term and link checks run the real matchers only on texts that pass a cheap,
  *sound* prefilter over all texts at once (see the comments above
  :class:`_TextFindings`): a text the prefilter drops provably has no match, so
  the result is exact, and the matchers see only the few texts that might. Equal
  term lists (the proposed and the current policy, usually) are matched once.

``bench/backtest_bench.py`` measures it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from operator import attrgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from moderation.domain.engine import Context, Policy, decide
from moderation.domain.guidelines import CATEGORIES, Rule
from moderation.domain.models import Action, ArticleMode, AuthorStatus, Reason
from moderation.domain.records import Case
from moderation.textmatch import TermMatcher, find_links, normalize

__all__ = [
    "BacktestResult",
    "Case",
    "ModeratorAgreement",
    "Sample",
    "Suggestion",
    "backtest",
    "decide_many",
    "suggest",
]

_Int8s = npt.NDArray[np.int8]
_Floats = npt.NDArray[np.float64]
_Bools = npt.NDArray[np.bool_]
_Positions = npt.NDArray[np.intp]

_ACTIONS: tuple[Action, Action, Action] = (Action.approve, Action.hold, Action.reject)
_APPROVE, _HOLD, _REJECT = 0, 1, 2  # severity indices, as moderation.domain.models.SEVERITY
_NO_MODERATOR = -1
_NAN = float("nan")
_EMPTY_SCORES: dict[str, float] = {}

# Action is a StrEnum, so it hashes and compares as its string, in C: a plain dict
# lookup through map() is the cheapest way to turn 100,000 of them into numbers.
_SEVERITY_OF: dict[str | None, int] = {None: _NO_MODERATOR}
_SEVERITY_OF.update({action.value: index for index, action in enumerate(_ACTIONS)})

# Changed cases are sampled round-robin over these transitions, most consequential
# first, so a handful of samples shows every kind of change there is.
_TRANSITIONS: tuple[tuple[int, int], ...] = (
    (_APPROVE, _REJECT),
    (_REJECT, _APPROVE),
    (_APPROVE, _HOLD),
    (_HOLD, _APPROVE),
    (_HOLD, _REJECT),
    (_REJECT, _HOLD),
)


# ---------------------------------------------------------------------------- results


def _matrix_json(counts: Sequence[int]) -> dict[str, dict[str, int]]:
    return {
        source.value: {target.value: int(counts[3 * i + j]) for j, target in enumerate(_ACTIONS)}
        for i, source in enumerate(_ACTIONS)
    }


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True, slots=True)
class Sample:
    """One case whose decision would change, with the proposed reasons."""

    comment_id: str
    before: Action
    after: Action
    reasons: tuple[Reason, ...]
    scores: Mapping[str, float] | None
    classifier: str
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        """``comment_id``, ``from``, ``to``, ``reasons`` (as dicts), ``scores``, ..."""
        return {
            "comment_id": self.comment_id,
            "from": self.before.value,
            "to": self.after.value,
            "reasons": [reason.as_dict() for reason in self.reasons],
            "scores": dict(self.scores) if self.scores is not None else None,
            "classifier": self.classifier,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ModeratorAgreement:
    """How one set of decisions compares with the moderators' decisions.

    ``table[m][p]`` counts cases the moderators decided ``m`` (approve or reject)
    and the policy decided ``p`` (approve, hold or reject).
    """

    table: tuple[tuple[int, int, int], tuple[int, int, int]]

    def to_json(self) -> dict[str, Any]:
        """Precision/recall of auto-reject and auto-approve, agreement and holds.

        Precision divides by what the policy decided, recall by what the moderators
        decided; ``agreement`` is the share of the automatically decided cases
        (holds excluded, they are counted in ``held``) that match the moderators.
        A share with a zero denominator is ``null``.
        """
        (m_approve, m_approve_hold, m_approve_reject) = self.table[0]
        (m_reject_approve, m_reject_hold, m_reject) = self.table[1]
        approved = m_approve + m_reject_approve
        rejected = m_approve_reject + m_reject
        agreed = m_approve + m_reject
        disagreed = m_approve_reject + m_reject_approve
        return {
            "auto_reject": {
                "decided": rejected,
                "correct": m_reject,
                "precision": _share(m_reject, rejected),
                "recall": _share(m_reject, sum(self.table[1])),
            },
            "auto_approve": {
                "decided": approved,
                "correct": m_approve,
                "precision": _share(m_approve, approved),
                "recall": _share(m_approve, sum(self.table[0])),
            },
            "agreement": _share(agreed, agreed + disagreed),
            "agreed": agreed,
            "disagreed": disagreed,
            "held": m_approve_hold + m_reject_hold,
        }


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """What :func:`backtest` found; :meth:`to_json` is the HTTP answer's body."""

    total: int
    matrix: tuple[int, ...]
    """Stored -> proposed counts, row-major over (approve, hold, reject)."""
    samples: tuple[Sample, ...]
    evidence: int
    proposed_vs_moderators: ModeratorAgreement
    stored_vs_moderators: ModeratorAgreement
    current_matrix: tuple[int, ...] | None = None
    """Current -> proposed counts, both re-decided; ``None`` without ``current``."""
    current_vs_moderators: ModeratorAgreement | None = None

    @property
    def changed(self) -> int:
        """Cases whose proposed decision differs from the stored one."""
        return self.total - sum(self.matrix[0::4])

    def to_json(self) -> dict[str, Any]:
        """``total``, ``matrix``, ``changed``, ``samples``, ``moderators`` and, when a
        current policy was given, ``current`` (its matrix to the proposed one)."""
        moderators: dict[str, Any] = {
            "evidence": self.evidence,
            "proposed": self.proposed_vs_moderators.to_json(),
            "stored": self.stored_vs_moderators.to_json(),
        }
        data: dict[str, Any] = {
            "total": self.total,
            "matrix": _matrix_json(self.matrix),
            "changed": self.changed,
            "counts": {
                "stored": _column_counts(self.matrix, by_row=True),
                "proposed": _column_counts(self.matrix, by_row=False),
            },
            "samples": [sample.to_json() for sample in self.samples],
            "moderators": moderators,
        }
        if self.current_matrix is not None:
            data["current"] = {
                "matrix": _matrix_json(self.current_matrix),
                "changed": self.total - sum(self.current_matrix[0::4]),
            }
            if self.current_vs_moderators is not None:
                moderators["current"] = self.current_vs_moderators.to_json()
        return data


def _column_counts(matrix: Sequence[int], *, by_row: bool) -> dict[str, int]:
    return {
        action.value: int(sum(matrix[3 * i : 3 * i + 3]) if by_row else sum(matrix[i::3][:3]))
        for i, action in enumerate(_ACTIONS)
    }


# ---------------------------------------------------------------------------- backtest


def backtest(
    proposed: Policy,
    cases: Iterable[Case],
    *,
    current: Policy | None = None,
    samples: int = 20,
) -> BacktestResult:
    """Re-decide ``cases`` under ``proposed`` and compare with the stored decisions.

    Each case gets exactly the action :func:`moderation.domain.engine.decide` would give
    it, computed from its stored scores (no classifier runs). The result holds the
    stored -> proposed matrix, up to ``samples`` changed cases spread over the kinds
    of change (with the proposed reasons), and the agreement of the proposed and
    the stored decisions with the moderators' decisions. With ``current``, both
    policies are re-decided and the current -> proposed matrix is added, which
    separates the effect of the proposal from earlier guideline changes.
    """
    items = cases if isinstance(cases, list | tuple) else list(cases)
    frame = _Frame(items, [proposed] if current is None else [proposed, current])
    texts = _TextFindings(frame.texts)

    after = frame.decide(proposed, texts.severities(proposed))
    stored = frame.stored
    matrix = _pair_counts(stored, after)
    moderated = frame.moderator >= 0
    current_matrix: tuple[int, ...] | None = None
    current_vs: ModeratorAgreement | None = None
    if current is not None:
        before = frame.decide(current, texts.severities(current))
        current_matrix = _pair_counts(before, after)
        current_vs = _agreement(frame.moderator, before, moderated)
    return BacktestResult(
        total=len(items),
        matrix=matrix,
        samples=_samples(proposed, items, stored, after, max(samples, 0)),
        evidence=int(np.count_nonzero(moderated)),
        proposed_vs_moderators=_agreement(frame.moderator, after, moderated),
        stored_vs_moderators=_agreement(frame.moderator, stored, moderated),
        current_matrix=current_matrix,
        current_vs_moderators=current_vs,
    )


def decide_many(policy: Policy, cases: Iterable[Case]) -> list[Action]:
    """The action :func:`moderation.domain.engine.decide` gives each case, in order, fast.

    The same computation as :func:`backtest`'s, for callers that need the
    per-case outcome (and for checking it against the engine).
    """
    items = cases if isinstance(cases, list | tuple) else list(cases)
    frame = _Frame(items, [policy])
    severity = frame.decide(policy, _TextFindings(frame.texts).severities(policy))
    return [_ACTIONS[i] for i in severity.tolist()]


def _pair_counts(before: _Int8s, after: _Int8s) -> tuple[int, ...]:
    pairs = before.astype(np.intp) * 3 + after
    return tuple(int(n) for n in np.bincount(pairs, minlength=9))


def _agreement(moderator: _Int8s, decided: _Int8s, moderated: _Bools) -> ModeratorAgreement:
    counts = np.bincount(moderator[moderated].astype(np.intp) * 3 + decided[moderated], minlength=9)
    approve = (int(counts[0]), int(counts[1]), int(counts[2]))
    reject = (int(counts[6]), int(counts[7]), int(counts[8]))
    return ModeratorAgreement(table=(approve, reject))


def _severity_column(actions: Iterable[Action | None], *, moderator: bool) -> _Int8s:
    column = list(map(_SEVERITY_OF.get, actions))
    if None in column:
        raise ValueError("a decision is not approve, hold or reject")
    array = np.array(column, dtype=np.int8)
    if moderator:
        # A moderator "hold" is not a verdict; only approve/reject are evidence.
        array[array == _HOLD] = _NO_MODERATOR
    elif (array < 0).any():
        raise ValueError("a case has no stored decision")
    return array


def _small_ints(values: list[int] | list[bool]) -> _Int8s:
    # bytes() converts a list of small ints in C, several times faster than np.array.
    return np.frombuffer(bytes(values), dtype=np.int8).copy()


def _score_column(dicts: list[Mapping[str, float]], category: str, *, plain: bool) -> _Floats:
    if plain:
        # Plain dicts (what storage hands over): dict.get mapped in C, no bytecode
        # per case.
        values = map(dict.get, dicts, repeat(category), repeat(_NAN))  # type: ignore[arg-type]
        return np.fromiter(values, dtype=np.float64, count=len(dicts))
    return np.array([d.get(category, _NAN) for d in dicts], dtype=np.float64).reshape(len(dicts))


class _Frame:
    """The cases as columns, read once and shared by every policy decided."""

    def __init__(self, items: Sequence[Case], policies: Sequence[Policy]) -> None:
        n = len(items)
        self.texts: list[str | None] = list(map(attrgetter("text"), items))
        self.stored = _severity_column(map(attrgetter("decided"), items), moderator=False)
        self.moderator = _severity_column(map(attrgetter("moderator"), items), moderator=True)

        banned, premoderated = AuthorStatus.banned, AuthorStatus.premoderated
        author = [
            _REJECT if s is banned else _HOLD if s is premoderated else _APPROVE
            for s in map(attrgetter("author_status"), items)
        ]
        premoderate = ArticleMode.premoderate
        article = [m is premoderate for m in map(attrgetter("article_mode"), items)]
        scores: list[Mapping[str, float] | None] = list(map(attrgetter("scores"), items))
        unscored = [s is None for s in scores]
        # Author/article context and an unavailable classifier do not depend on
        # the policy, so they form the base every policy starts from.
        self.base: _Int8s = np.maximum(
            _small_ints(author), _small_ints(article) | _small_ints(unscored)
        )

        dicts = [_EMPTY_SCORES if s is None else s for s in scores]
        plain = set(map(type, dicts)) <= {dict}
        wanted = {rule.category for policy in policies for rule in policy.guidelines.rules}
        # A missing category reads as NaN, which compares false with every
        # threshold: exactly the engine's "skip a category the classifier lacks".
        self.columns: dict[str, _Floats] = {
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

    def decide(self, policy: Policy, text_severity: _Int8s) -> _Int8s:
        """Per-case severity index of the action ``decide`` gives under ``policy``."""
        severity = np.maximum(self.base, text_severity)
        for category, holds, rejects in _threshold_checks(policy, self.keys):
            scores = self.columns[category]
            np.maximum(severity, (scores >= holds[self.group]).view(np.int8), out=severity)
            severity[scores >= rejects[self.group]] = _REJECT
        return severity


def _threshold_checks(
    policy: Policy, keys: Sequence[tuple[frozenset[str], str]]
) -> list[tuple[str, _Floats, _Floats]]:
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
    checks: list[tuple[str, _Floats, _Floats]] = []
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


def _samples(
    policy: Policy,
    items: Sequence[Case],
    stored: _Int8s,
    after: _Int8s,
    wanted: int,
) -> tuple[Sample, ...]:
    if wanted == 0:
        return ()
    queues: list[list[int]] = []
    for source, target in _TRANSITIONS:
        found = np.flatnonzero((stored == source) & (after == target))
        if found.size > wanted:
            # Evenly spaced within a transition, so the samples span the period
            # (and the kinds of comment) instead of its first few rows.
            found = found[np.linspace(0, found.size - 1, wanted).round().astype(np.intp)]
        queues.append([int(i) for i in found])
    chosen: list[int] = []
    depth = 0
    while len(chosen) < wanted and any(depth < len(q) for q in queues):
        chosen.extend(q[depth] for q in queues if depth < len(q))
        depth += 1
    result: list[Sample] = []
    for index in chosen[:wanted]:
        case = items[index]
        # Reasons come from the engine itself: only a handful of cases need them.
        verdict = decide(
            policy,
            case.text or "",
            case.scores,
            case.classifier,
            Context(case.article_mode, case.article_tags, case.author_status),
        )
        result.append(
            Sample(
                comment_id=case.comment_id,
                before=_ACTIONS[int(stored[index])],
                after=_ACTIONS[int(after[index])],
                reasons=verdict.reasons,
                scores=case.scores,
                classifier=case.classifier,
                created_at=case.created_at,
            )
        )
    return tuple(result)


# ------------------------------------------------------------------ term and link checks

# Term prefilter. It works on a *canonical* byte form of every text: ASCII lower
# case, every leetspeak character mapped to its letter (the textmatch table), every
# other character deleted (NUL, the text separator, excepted), then runs of one
# letter squeezed to one. Why this is sound: a term matches only where each of its
# words matches a stretch of the matcher's folded text. Folding an ASCII text only
# lowers case, deletes the separators of spaced-out letters (neither word nor
# leet characters, which the canonical form deletes too) and maps some leet
# characters (which the canonical form maps always); so the canonical text
# contains the canonical stretch. The stretch matched the word's pattern, in which
# each letter stands for one or more copies: squeezed, it is the squeezed word.
# Hence no match unless the canonical text contains each word's canonical form,
# and so any piece of it (the "needle").
#
# A non-ASCII character is replaced by textmatch.normalize of that character
# alone. The matcher folds whole texts (NFKD, delete marks and invisible
# characters, map look-alikes, casefold, NFC), but all of that is per character
# except the final NFC, and NFC never merges an ASCII character with a neighbour
# that survives the deletions (checked against the Unicode data: no composition
# has an ASCII base and a partner other than a mark). Non-ASCII output, which
# stays, is deleted by the canonical form on both sides.
_LEET_FROM = b"0134578@$!|+"
_LEET_TO = b"oieastbasilt"
_UPPER = bytes(range(ord("A"), ord("Z") + 1))
_LOWER = bytes(range(ord("a"), ord("z") + 1))
_CANON_TABLE = bytes.maketrans(_UPPER + _LEET_FROM, _LOWER + _LEET_TO)
_CANON_KEEP = frozenset(_UPPER + _LOWER + _LEET_FROM + b"\x00")
_CANON_DELETE = bytes(b for b in range(256) if b not in _CANON_KEEP)
_LEET_SYMBOLS_TO_SPACE = str.maketrans(dict.fromkeys("@$!|+", " "))
_TERM_PIECE = re.compile(r"[a-z0-9]+")
_RUN = re.compile(rb"(.)\1+")
_NON_ASCII_RUNS = re.compile(r"([^\x00-\x7f]+)")
_SEPARATOR = "\x00"
_SEPARATOR_STANDIN = "\x01"  # for a text's own NULs: equally neither word, space nor leet
# Past this many needles (per term list) the matchers just see every text.
_MAX_NEEDLES = 64
_CHUNK = 50_000  # texts per buffer
_PAIR_SAMPLE = 1 << 20

# Link prefilter. Every link textmatch.find_links finds contains "://" or a dot
# form: ".", " . ", a bracketed "." or "dot", or " dot " (any case). A "www" link
# has one right after "www" and at most three digits; any other link has one
# right before a top-level domain of two or more letters of one case. So the text
# contains "://" or "dot", or a "." that is followed by two letters of one case,
# preceded by white space or an opening bracket, or preceded by "www" and up to
# three digits. find_links reads an ASCII text as it is; a non-ASCII one after
# NFKC, deleting invisible characters and mapping look-alike letters and
# ideographic full stops, so the rules hold only where every non-ASCII character
# is inert under that cleaning (see _link_inert); other texts go to find_links.
_BEFORE_SPACED_DOT = np.zeros(256, dtype=np.bool_)
_BEFORE_SPACED_DOT[list(b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f[({<")] = True
# Quotes, dashes, brackets, symbols (emoji), marks: never a look-alike letter, a
# dot or white space ("Po" holds the ideographic full stop, so it is left out).
_LINK_INERT_CATEGORIES = frozenset(
    {"Mn", "Mc", "Me", "Pi", "Pf", "Pd", "Ps", "Pe", "Sm", "Sc", "Sk", "So"}
)


def _link_inert(char: str) -> bool:
    """Whether find_links's cleaning keeps ``char`` one non-ASCII, non-space character.

    Then it plays the part of the "?" that stands for it in the prefilter (no
    rule looks at more than it being neither ASCII nor space, and no non-ASCII
    character matches "w", "d", "o" or "t" ignoring case). A letter qualifies
    when it has no decomposition and textmatch.normalize, which applies the same
    look-alike table, leaves nothing ASCII of it; letters with accents are left
    to find_links, which is exact.
    """
    if char.isspace() or unicodedata.normalize("NFKC", char) != char:
        return False
    category = unicodedata.category(char)
    if category in _LINK_INERT_CATEGORIES:
        return True
    return (
        category.startswith("L")
        and not unicodedata.decomposition(char)
        and not any(c.isascii() for c in normalize(char))
    )


class _CharFold(dict[int, str]):
    """str.translate table: each non-ASCII character's folding, computed on first use.

    What stays non-ASCII becomes "?" (deleted by the canonical form anyway), so the
    joined texts stay one byte a character.
    """

    def __missing__(self, code: int) -> str:
        folded = self[code] = normalize(chr(code)).encode("ascii", "replace").decode("ascii")
        return folded


def _needle(term: str) -> bytes | None:
    """The longest canonical piece every match of ``term`` contains, if it is useful."""
    # Leet symbols become breaks: whether the matcher reads one as a letter depends
    # on its neighbours, and a shorter piece is always safe.
    folded = normalize(term.translate(_LEET_SYMBOLS_TO_SPACE))
    best = b""
    for piece in _TERM_PIECE.findall(folded):
        canonical = _RUN.sub(rb"\1", piece.encode("ascii").translate(_CANON_TABLE, _CANON_DELETE))
        if len(canonical) > len(best):
            best = canonical
    return best if len(best) >= 2 else None


def _needles(terms: Iterable[str]) -> list[bytes] | None:
    """Needles for a term list (none for an empty one); None where some term has none."""
    found: set[bytes] = set()
    for term in terms:
        needle = _needle(term)
        if needle is None:
            return None
        found.add(needle)
    # A needle containing another one finds a subset of its texts: drop it.
    kept = [n for n in found if not any(o != n and o in n for o in found)]
    return sorted(kept) if len(kept) <= _MAX_NEEDLES else None


def _squeeze(data: bytes) -> npt.NDArray[np.uint8]:
    """``data`` with every run of one byte squeezed to one byte, NULs excepted."""
    raw = np.frombuffer(data, dtype=np.uint8)
    keep = np.empty(raw.size, dtype=np.bool_)
    keep[:1] = True
    np.not_equal(raw[1:], raw[:-1], out=keep[1:])
    keep |= raw == 0  # empty texts leave adjacent separators, and each one counts
    return raw[keep]


def _needle_hits(canon: npt.NDArray[np.uint8], needles: Sequence[bytes]) -> list[_Positions]:
    """Per needle, the positions in ``canon`` where it starts.

    One pass for all needles instead of one bytes.find pass each: every needle is
    anchored on its rarest pair of adjacent bytes (counted on a slice of the
    data), one table lookup per position marks where any anchor occurs, and only
    those positions are checked byte by byte.
    """
    if canon.size < 2 or not needles:
        return [np.zeros(0, dtype=np.intp) for _ in needles]
    if len(needles) > 255:  # anchors are numbered in one byte
        return _needle_hits(canon, needles[:255]) + _needle_hits(canon, needles[255:])
    pairs = canon[:-1].astype(np.uint16)
    pairs <<= 8
    pairs |= canon[1:]
    counts = np.bincount(pairs[:_PAIR_SAMPLE], minlength=1 << 16)
    slots: dict[int, int] = {}
    anchors: list[tuple[bytes, int, int]] = []
    for needle in needles:
        codes = [(needle[i] << 8) | needle[i + 1] for i in range(len(needle) - 1)]
        offset = min(range(len(codes)), key=lambda i: int(counts[codes[i]]))
        anchors.append((needle, offset, slots.setdefault(codes[offset], len(slots) + 1)))
    table = np.zeros(1 << 16, dtype=np.uint8)
    for code, slot in slots.items():
        table[code] = slot
    marks = table[pairs]
    where = np.flatnonzero(marks)
    kinds = marks[where]
    found: list[_Positions] = []
    for needle, offset, slot in anchors:
        starts = where[kinds == slot] - offset
        starts = starts[(starts >= 0) & (starts <= canon.size - len(needle))]
        for index, byte in enumerate(needle):
            if index not in (offset, offset + 1):
                starts = starts[canon[starts + index] == byte]
        found.append(starts)
    return found


def _occurrences(data: bytes, marker: bytes) -> list[int]:
    found: list[int] = []
    position = data.find(marker)
    while position >= 0:
        found.append(position)
        position = data.find(marker, position + 1)
    return found


class _TextFindings:
    """Which texts contain banned terms, suspect terms and links, per term list.

    Shared by the policies of one backtest: equal term lists are matched once.
    Texts are handled in chunks, which bounds the memory the buffers take (a few
    bytes a character) however many cases there are.
    """

    def __init__(self, texts: Sequence[str | None]) -> None:
        self._chunks = [
            _ChunkFindings(texts[start : start + _CHUNK]) for start in range(0, len(texts), _CHUNK)
        ]

    def severities(self, policy: Policy) -> _Int8s:
        """Per case: 2 for a banned term, else 1 for a suspect term or a held link."""
        if not self._chunks:
            return np.zeros(0, dtype=np.int8)
        return np.concatenate([chunk.severities(policy) for chunk in self._chunks])


class _ChunkFindings:
    """:class:`_TextFindings` for one chunk of texts.

    The buffers below are built on first need: the texts joined by NULs (their
    own NULs replaced), as bytes with "?" for each non-ASCII character.
    """

    def __init__(self, texts: Sequence[str | None]) -> None:
        self._texts = texts
        self._links: _Bools | None = None
        self._terms: dict[tuple[str, ...], _Bools] = {}
        self._parts: list[str] | None = None
        self._wide: list[int] = []
        self._wide_pieces: list[str] = []
        self._raw = b""
        self._canon: tuple[npt.NDArray[np.uint8], _Positions] | None = None

    def severities(self, policy: Policy) -> _Int8s:
        """Per case: 2 for a banned term, else 1 for a suspect term or a held link."""
        guidelines = policy.guidelines
        severity = np.zeros(len(self._texts), dtype=np.int8)
        if not self._texts:
            return severity
        if guidelines.hold_links:
            severity[self._link_mask()] = _HOLD
        suspect, banned = self._term_masks(
            [(guidelines.suspect_terms, policy.suspect), (guidelines.banned_terms, policy.banned)]
        )
        severity[suspect] = _HOLD
        severity[banned] = _REJECT
        return severity

    def _joined(self) -> list[str]:
        if self._parts is None:
            texts = self._texts
            parts = ["" if text is None else text for text in texts]
            self._wide = [i for i, part in enumerate(parts) if not part.isascii()]
            for index in self._wide:
                # One byte a character keeps the joined string compact and its
                # encoding a copy; "?" stands for every non-ASCII character.
                parts[index] = parts[index].encode("ascii", "replace").decode("ascii")
            joined = _SEPARATOR.join(parts)
            if joined.count(_SEPARATOR) != len(parts) - 1:
                parts = [part.replace(_SEPARATOR, _SEPARATOR_STANDIN) for part in parts]
                joined = _SEPARATOR.join(parts)
            self._parts = parts
            self._raw = joined.encode("ascii")
            if self._wide:
                # The non-ASCII texts once more, as they are, split into ASCII
                # stretches (even places) and non-ASCII runs (odd places).
                wide = _SEPARATOR.join(
                    (texts[i] or "").replace(_SEPARATOR, _SEPARATOR_STANDIN) for i in self._wide
                )
                self._wide_pieces = _NON_ASCII_RUNS.split(wide)
        return self._parts

    def _canonical(self) -> tuple[npt.NDArray[np.uint8], _Positions]:
        """The canonical buffer and its separators' positions.

        Its parts are the texts in case order, then the folded non-ASCII texts
        again (see _owner); a non-ASCII text's own part, with "?" for those
        characters, can only add candidates, never hide one.
        """
        if self._canon is None:
            self._joined()
            source = self._raw
            if self._wide:
                fold = _CharFold()
                pieces = self._wide_pieces.copy()
                pieces[1::2] = [run.translate(fold) for run in pieces[1::2]]
                source += b"\x00" + "".join(pieces).encode("ascii")
            canon = _squeeze(source.translate(_CANON_TABLE, _CANON_DELETE))
            self._canon = canon, np.flatnonzero(canon == 0)
        return self._canon

    def _owner(self, part: int) -> int:
        n = len(self._texts)
        return part if part < n else self._wide[part - n]

    def _term_masks(self, lists: Sequence[tuple[tuple[str, ...], TermMatcher]]) -> list[_Bools]:
        """Per term list: which texts its matcher finds a term in."""
        texts = self._texts
        todo = {terms: matcher for terms, matcher in lists if terms not in self._terms}
        plans = {terms: _needles(terms) for terms in todo}
        wanted = sorted({needle for needles in plans.values() for needle in needles or ()})
        by_needle: dict[bytes, set[int]] = {}
        if wanted:
            canon, separators = self._canonical()
            for needle, positions in zip(wanted, _needle_hits(canon, wanted), strict=True):
                parts = np.searchsorted(separators, positions, side="right")
                by_needle[needle] = {self._owner(part) for part in set(parts.tolist())}
        for terms, matcher in todo.items():
            needles = plans[terms]
            candidates: Iterable[int]
            if needles is None:
                candidates = range(len(texts))  # no sound prefilter: ask the matcher
            else:
                candidates = sorted(set().union(*(by_needle[n] for n in needles)))
            mask = np.zeros(len(texts), dtype=np.bool_)
            for index in candidates:
                text = texts[index]
                if text and matcher.find(text):
                    mask[index] = True
            self._terms[terms] = mask
        return [self._terms[terms] for terms, _ in lists]

    def _link_mask(self) -> _Bools:
        if self._links is not None:
            return self._links
        self._joined()
        raw = self._raw
        positions = [
            np.array(_occurrences(raw, b"://"), dtype=np.intp),
            np.array(_occurrences(raw.lower(), b"dot"), dtype=np.intp),
        ]
        # Padded so that every dot has six bytes before it and two after it.
        padded = np.frombuffer(b"\x00" * 6 + raw + b"\x00\x00", dtype=np.uint8)
        dots = np.flatnonzero(padded == ord("."))
        one, two = padded[dots + 1], padded[dots + 2]
        linky = (one >= 97) & (one <= 122) & (two >= 97) & (two <= 122)
        linky |= (one >= 65) & (one <= 90) & (two >= 65) & (two <= 90)
        linky |= _BEFORE_SPACED_DOT[padded[dots - 1]]
        # "www" (any case) and up to three digits right before the dot; the other
        # dot forms after "www" are caught above or by "dot".
        digits = np.ones(dots.size, dtype=np.bool_)
        for gap in range(4):
            www = digits.copy()
            for back in range(gap + 1, gap + 4):
                www &= (padded[dots - back] | 0x20) == ord("w")
            linky |= www
            before = padded[dots - gap - 1]
            digits &= (before >= ord("0")) & (before <= ord("9"))
        positions.append(dots[linky] - 6)
        separators = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == 0)
        found = np.searchsorted(separators, np.concatenate(positions), side="right")
        candidates = set(found.tolist())
        if self._wide:
            runs = "".join(self._wide_pieces[1::2])
            risky = sorted(char for char in set(runs) if not _link_inert(char))
            if risky:
                pattern = re.compile("[" + "".join(map(re.escape, risky)) + "]")
                candidates.update(i for i in self._wide if pattern.search(self._texts[i] or ""))
        texts = self._texts
        mask = np.zeros(len(texts), dtype=np.bool_)
        for index in sorted(candidates):
            text = texts[index]
            if text and find_links(text):
                mask[index] = True
        self._links = mask
        return mask


# ----------------------------------------------------------------------------- suggest


@dataclass(frozen=True, slots=True)
class Suggestion:
    """Suggested thresholds for one category, from the moderators' decisions.

    ``reject_at``: the lowest observed score such that the moderators rejected at
    least the target share of the moderated comments scoring at or above it.
    ``hold_at``: the highest observed score (not above ``reject_at``) such that
    they approved at least the target share of those scoring below it. Either is
    ``None`` when no threshold has ``min_evidence`` comments on its side.
    """

    category: str
    classifier: str
    hold_at: float | None
    reject_at: float | None
    reject_precision: float | None
    """Share of comments at or above ``reject_at`` the moderators rejected."""
    reject_evidence: int
    """Moderated comments at or above ``reject_at``."""
    approve_precision: float | None
    """Share of comments below ``hold_at`` the moderators approved."""
    approve_evidence: int
    """Moderated comments below ``hold_at``."""
    evidence: int
    """Moderated comments with a score for the category."""
    rejected: int
    """Of those, how many the moderators rejected."""
    explanation: str

    def to_json(self) -> dict[str, Any]:
        """Every field, under its own name."""
        return {
            "category": self.category,
            "classifier": self.classifier,
            "hold_at": self.hold_at,
            "reject_at": self.reject_at,
            "reject_precision": self.reject_precision,
            "reject_evidence": self.reject_evidence,
            "approve_precision": self.approve_precision,
            "approve_evidence": self.approve_evidence,
            "evidence": self.evidence,
            "rejected": self.rejected,
            "explanation": self.explanation,
        }


def suggest(
    cases: Iterable[Case],
    *,
    classifier: str,
    target_precision: float = 0.95,
    min_evidence: int = 20,
) -> list[Suggestion]:
    """Suggest ``hold_at``/``reject_at`` per category from moderated cases.

    Uses the cases scored by ``classifier`` that a moderator approved or rejected,
    one category at a time: "hold less, but keep auto-reject at least
    ``target_precision`` right". Candidate thresholds are the observed scores, so
    the cost is a sort per category. Categories come in the contract's order.
    """
    approve, reject = Action.approve, Action.reject
    scored: list[Mapping[str, float]] = []
    verdicts: list[bool] = []
    for case in cases:
        moderator = case.moderator
        if case.classifier != classifier or case.scores is None:
            continue
        if moderator is reject or moderator is approve:
            scored.append(case.scores)
            verdicts.append(moderator is reject)
    present = {category for scores in scored for category in scores}
    order = {category: index for index, category in enumerate(CATEGORIES)}
    rejected_all = np.array(verdicts, dtype=np.bool_)
    suggestions: list[Suggestion] = []
    for category in sorted(present, key=lambda c: (order.get(c, len(order)), c)):
        values = np.array([s.get(category, _NAN) for s in scored], dtype=np.float64)
        known = ~np.isnan(values)
        suggestions.append(
            _suggest_one(
                category,
                classifier,
                values[known],
                rejected_all[known],
                target_precision,
                min_evidence,
            )
        )
    return suggestions


def _suggest_one(
    category: str,
    classifier: str,
    scores: _Floats,
    rejected: _Bools,
    target: float,
    min_evidence: int,
) -> Suggestion:
    n = int(scores.size)
    need = max(min_evidence, 1)
    if n == 0:
        return Suggestion(
            category=category,
            classifier=classifier,
            hold_at=None,
            reject_at=None,
            reject_precision=None,
            reject_evidence=0,
            approve_precision=None,
            approve_evidence=0,
            evidence=0,
            rejected=0,
            explanation=f"{category}: no moderated comment has a score for it.",
        )

    # reject_at: sweep thresholds from the top; at the last case of each run of
    # equal scores, everything at or above that score is on the reject side.
    order = np.argsort(-scores, kind="stable")
    descending = scores[order]
    rejects_above = np.cumsum(rejected[order])
    ends = np.flatnonzero(np.append(descending[1:] != descending[:-1], True))
    count = ends + 1
    share = rejects_above[ends] / count
    fits = np.flatnonzero((count >= need) & (share >= target))
    reject_at: float | None = None
    reject_precision: float | None = None
    reject_evidence = 0
    if fits.size:
        best = int(ends[fits[-1]])  # the lowest such threshold
        reject_at = float(descending[best])
        reject_evidence = best + 1
        reject_precision = float(rejects_above[best]) / reject_evidence

    # hold_at: sweep from the bottom; at the first case of each run of equal
    # scores, everything strictly below it would be approved.
    ascending = scores[order[::-1]]
    approved = ~rejected[order[::-1]]
    approvals_below = np.concatenate(([0], np.cumsum(approved)))
    starts = np.flatnonzero(np.insert(ascending[1:] != ascending[:-1], 0, True))
    below = starts
    with np.errstate(invalid="ignore", divide="ignore"):
        approve_share = approvals_below[starts] / below
    allowed = (below >= need) & (approve_share >= target)
    if reject_at is not None:
        # A hold above the reject threshold is invalid guidelines (and pointless).
        allowed &= ascending[starts] <= reject_at
    fits = np.flatnonzero(allowed)
    hold_at: float | None = None
    approve_precision: float | None = None
    approve_evidence = 0
    if fits.size:
        best = int(starts[fits[-1]])  # the highest such threshold
        hold_at = float(ascending[best])
        approve_evidence = best
        approve_precision = float(approvals_below[best]) / best

    total_rejected = int(np.count_nonzero(rejected))
    return Suggestion(
        category=category,
        classifier=classifier,
        hold_at=hold_at,
        reject_at=reject_at,
        reject_precision=reject_precision,
        reject_evidence=reject_evidence,
        approve_precision=approve_precision,
        approve_evidence=approve_evidence,
        evidence=n,
        rejected=total_rejected,
        explanation=_explain(
            category,
            target,
            need,
            n,
            (reject_at, reject_precision, reject_evidence),
            (hold_at, approve_precision, approve_evidence),
        ),
    )


def _explain(
    category: str,
    target: float,
    need: int,
    evidence: int,
    reject: tuple[float | None, float | None, int],
    hold: tuple[float | None, float | None, int],
) -> str:
    reject_at, reject_precision, reject_count = reject
    hold_at, approve_precision, approve_count = hold
    parts: list[str] = []
    if reject_at is not None and reject_precision is not None:
        parts.append(
            f"reject at {reject_at:.3f}: moderators rejected {reject_precision:.1%} of the "
            f"{reject_count} moderated comments scoring at or above it"
        )
    else:
        parts.append(
            f"no reject threshold: no score has at least {need} moderated comments at or "
            f"above it of which {target:.0%} were rejected"
        )
    if hold_at is not None and approve_precision is not None:
        parts.append(
            f"hold at {hold_at:.3f}: moderators approved {approve_precision:.1%} of the "
            f"{approve_count} moderated comments scoring below it, which could be approved "
            "automatically"
        )
    else:
        parts.append(
            f"no hold threshold: no score has at least {need} moderated comments below it "
            f"of which {target:.0%} were approved"
        )
    return f"{category} ({evidence} moderated comments): " + "; ".join(parts) + "."
