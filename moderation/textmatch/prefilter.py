"""Term and link checks for many texts at once: :class:`TextBatch`.

A backtest asks, for 100,000 texts, which of them a term list's
:class:`~moderation.textmatch.TermMatcher` or :func:`~moderation.textmatch.find_links`
finds something in, and those cost tens of µs a text. :class:`TextBatch` gives
exactly their answers, text by text, but asks them only about the texts that pass
a cheap prefilter run over all texts at once. The prefilter is *sound*: a text it
drops provably has no match (the argument is in the comments above each part), so
the result is exact, and the matchers see only the few texts that might.

The prefilter reads the text as the matchers do, so its tables are derived from
the normaliser's (:data:`~moderation.textmatch.normalization.LEETSPEAK`,
:data:`~moderation.textmatch.normalization.LEET_SEQUENCES` and, through
:func:`~moderation.textmatch.normalize`, the look-alike table), never spelled out
again, and it puts text in display order with the normaliser's own
:func:`~moderation.textmatch.normalization.resolve_bidi`. Unlike the rest of the
package it uses numpy, which is why the package's ``__init__`` does not import it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from moderation.textmatch.links import find_links
from moderation.textmatch.normalization import (
    LEET_SEQUENCES,
    LEET_SYMBOLS,
    LEETSPEAK,
    LOOKALIKES,
    normalize,
    resolve_bidi,
)
from moderation.textmatch.terms import TermMatcher

__all__ = ["TextBatch"]

_Bools = npt.NDArray[np.bool_]
_Positions = npt.NDArray[np.intp]

# Term prefilter. It works on a *canonical* byte form of every text: ASCII lower
# case, every leetspeak character mapped to its letter (LEETSPEAK, the matcher's
# own table), every other character deleted (NUL, the text separator, excepted),
# then runs of one letter squeezed to one. Why this is sound: a term matches only
# where each of its words matches a stretch of the matcher's folded text. Folding
# an ASCII text only lowers case, deletes the separators of spaced-out letters
# (neither word nor leet characters, which the canonical form deletes too) and maps
# some leet characters (which the canonical form maps always); so the canonical
# text contains the canonical stretch. The stretch matched the word's pattern, in
# which each letter stands for one or more copies: squeezed, it is the squeezed
# word. Hence no match unless the canonical text contains each word's canonical
# form, and so any piece of it (the "needle"). Spaced-out letters only ever lose
# separators, in whichever reading (a one-letter word left standing keeps one), and
# a plural ending only follows the term's last word, so neither breaks the argument.
#
# Letters drawn with symbols (LEET_SEQUENCES: "|_|", "/\", a "(" between letters)
# are the exception, because the matcher reads them depending on their
# neighbours: a text with one of them (a multi-character sequence anywhere, a
# one-character one between two ASCII letters) is always asked. Without one,
# the matcher's sequence step changes nothing and the argument above holds. The
# check runs on the same bytes as the canonical form, before deletions, and a
# sequence is ASCII, so what the matcher would see (its folded text) has one
# only where these bytes do (see below on non-ASCII characters).
#
# Right-to-left overrides reorder text; they are non-ASCII, so only the
# non-ASCII texts' folded copy (below) can hold one, and that copy is put in
# display order by the matcher's own resolve_bidi before anything else.
#
# A non-ASCII character is replaced by normalize of that character alone. The
# matcher folds whole texts (NFKD, delete marks and invisible characters, map
# look-alikes, casefold, NFC), but all of that is per character except the final
# NFC, and NFC never merges an ASCII character with a neighbour that survives the
# deletions (checked against the Unicode data: no composition has an ASCII base
# and a partner other than a mark). Non-ASCII output, which stays, is deleted by
# the canonical form on both sides.
#
# The tables are bytes, as the canonical form is: a non-ASCII leet character
# would fail here, at import, rather than be missed (normalize of one character
# alone never maps leetspeak, which depends on the neighbours).
_LEET_FROM = "".join(LEETSPEAK).encode("ascii")
_LEET_TO = "".join(LEETSPEAK.values()).encode("ascii")
_UPPER = bytes(range(ord("A"), ord("Z") + 1))
_LOWER = bytes(range(ord("a"), ord("z") + 1))
_CANON_TABLE = bytes.maketrans(_UPPER + _LEET_FROM, _LOWER + _LEET_TO)
_CANON_KEEP = frozenset(_UPPER + _LOWER + _LEET_FROM + b"\x00")
_CANON_DELETE = bytes(b for b in range(256) if b not in _CANON_KEEP)
# Where a term's needle must break: the leet symbols and the punctuation of the
# symbol sequences, whose reading depends on their neighbours.
_NEEDLE_BREAKS = LEET_SYMBOLS + "".join(
    sorted(
        {char for seq in LEET_SEQUENCES for char in seq if not char.isalnum()} - set(LEET_SYMBOLS)
    )
)
_NEEDLE_BREAKS_TO_SPACE = str.maketrans(dict.fromkeys(_NEEDLE_BREAKS, " "))
# Texts with a symbol sequence are always asked (see above): the sequences of two
# or more characters anywhere, the one-character ones between two ASCII letters.
_MULTI_SEQUENCES: dict[bytes, list[bytes]] = {}
for _sequence in sorted(LEET_SEQUENCES):
    if len(_sequence) > 1:
        _MULTI_SEQUENCES.setdefault(_sequence[0].encode("ascii"), []).append(
            _sequence.encode("ascii")
        )
_BETWEEN_LETTERS = [ord(seq) for seq in LEET_SEQUENCES if len(seq) == 1]
_ASCII_LETTER = np.zeros(256, dtype=np.bool_)
_ASCII_LETTER[list(_UPPER + _LOWER)] = True
_TERM_PIECE = re.compile(r"[a-z0-9]+")
_RUN = re.compile(rb"(.)\1+")
_NON_ASCII_RUNS = re.compile(r"([^\x00-\x7f]+)")
_SEPARATOR = "\x00"
_SEPARATOR_STANDIN = "\x01"  # for a text's own NULs: equally neither word, space nor leet
# Past this many needles (per term list) the matchers just see every text.
_MAX_NEEDLES = 64
_CHUNK = 50_000  # texts per buffer
_PAIR_SAMPLE = 1 << 20

# Link prefilter. Every link find_links finds contains "://" or a dot form:
# ".", " . ", a bracketed "." or "dot", or " dot " (any case). A "www" link
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
    when it has no decomposition and normalize, which applies the same
    look-alike table, leaves nothing ASCII of it; letters with accents are left
    to find_links, which is exact.
    """
    if char.isspace() or unicodedata.normalize("NFKC", char) != char or char in LOOKALIKES:
        return False  # find_links maps look-alikes, symbols such as "🇦" included
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
    # Leet symbols and the sequences' punctuation become breaks: whether the matcher
    # reads them as letters depends on their neighbours, and a shorter piece is
    # always safe.
    folded = normalize(term.translate(_NEEDLE_BREAKS_TO_SPACE))
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


def _sequence_positions(data: bytes) -> list[int]:
    """Where ``data`` has a symbol sequence the matcher may read as a letter."""
    found: list[int] = []
    # A search per first byte (memchr) is many times faster than one per sequence.
    for first, sequences in _MULTI_SEQUENCES.items():
        found.extend(
            at
            for at in _occurrences(data, first)
            if any(data.startswith(sequence, at) for sequence in sequences)
        )
    if _BETWEEN_LETTERS and len(data) > 2:
        raw = np.frombuffer(data, dtype=np.uint8)
        for code in _BETWEEN_LETTERS:
            at = np.flatnonzero(raw[1:-1] == code) + 1
            at = at[_ASCII_LETTER[raw[at - 1]] & _ASCII_LETTER[raw[at + 1]]]
            found.extend(at.tolist())
    return found


def _occurrences(data: bytes, marker: bytes) -> list[int]:
    found: list[int] = []
    position = data.find(marker)
    while position >= 0:
        found.append(position)
        position = data.find(marker, position + 1)
    return found


class TextBatch:
    """Which of many texts hold a term of a term list, and which hold a link.

    The answers are :meth:`TermMatcher.find`'s and :func:`find_links`'s, text by
    text; ``None`` (a deleted text) has neither. Answers are kept, so a term list
    asked about again (a backtest's current policy usually has the proposed one's
    terms) is matched once. Texts are handled in chunks, which bounds the memory
    the buffers take (a few bytes a character) however many texts there are.
    """

    def __init__(self, texts: Sequence[str | None]) -> None:
        self._size = len(texts)
        self._chunks = [
            _Chunk(texts[start : start + _CHUNK]) for start in range(0, len(texts), _CHUNK)
        ]

    def __len__(self) -> int:
        return self._size

    def term_masks(self, lists: Sequence[tuple[tuple[str, ...], TermMatcher]]) -> list[_Bools]:
        """Per ``(terms, matcher)``: which texts ``matcher.find`` finds a term in.

        ``matcher`` must be ``TermMatcher(terms)``: the prefilter reads the terms,
        the matcher decides. The lists asked about together share one pass.
        """
        if not self._chunks:
            return [np.zeros(0, dtype=np.bool_) for _ in lists]
        per_chunk = [chunk.term_masks(lists) for chunk in self._chunks]
        return [np.concatenate(masks) for masks in zip(*per_chunk, strict=True)]

    def link_mask(self) -> _Bools:
        """Which texts :func:`find_links` finds a link in."""
        if not self._chunks:
            return np.zeros(0, dtype=np.bool_)
        return np.concatenate([chunk.link_mask() for chunk in self._chunks])


class _Chunk:
    """:class:`TextBatch` for one chunk of texts.

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
        self._sequenced: set[int] = set()

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
        again, in display order (see _owner); a non-ASCII text's own part, with
        "?" for those characters, can only add candidates, never hide one. Also
        notes the texts with a symbol sequence, which are always asked.
        """
        if self._canon is None:
            self._joined()
            source = self._raw
            if self._wide:
                fold = _CharFold()
                texts = [self._texts[i] or "" for i in self._wide]
                ordered = [resolve_bidi(text) for text in texts]
                if any(new is not old for new, old in zip(ordered, texts, strict=True)):
                    pieces = _NON_ASCII_RUNS.split(
                        _SEPARATOR.join(t.replace(_SEPARATOR, _SEPARATOR_STANDIN) for t in ordered)
                    )
                else:
                    pieces = self._wide_pieces.copy()
                pieces[1::2] = [run.translate(fold) for run in pieces[1::2]]
                source += b"\x00" + "".join(pieces).encode("ascii")
            positions = _sequence_positions(source)
            if positions:
                separators = np.flatnonzero(np.frombuffer(source, dtype=np.uint8) == 0)
                parts = np.searchsorted(separators, positions, side="right")
                self._sequenced = {self._owner(part) for part in set(parts.tolist())}
            canon = _squeeze(source.translate(_CANON_TABLE, _CANON_DELETE))
            self._canon = canon, np.flatnonzero(canon == 0)
        return self._canon

    def _owner(self, part: int) -> int:
        n = len(self._texts)
        return part if part < n else self._wide[part - n]

    def term_masks(self, lists: Sequence[tuple[tuple[str, ...], TermMatcher]]) -> list[_Bools]:
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
                hits = set(self._sequenced).union(*(by_needle[n] for n in needles))
                candidates = sorted(hits)
            mask = np.zeros(len(texts), dtype=np.bool_)
            for index in candidates:
                text = texts[index]
                if text and matcher.find(text):
                    mask[index] = True
            self._terms[terms] = mask
        return [self._terms[terms] for terms, _ in lists]

    def link_mask(self) -> _Bools:
        """Which texts find_links finds a link in."""
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
