"""Term matching: :class:`TermMatcher` finds guideline terms in comments.

Text and terms are folded alike (:mod:`.normalization`: display order, Unicode,
look-alikes, spaced-out words, and leetspeak in a second form), then searched with
patterns compiled once per term list.

Elongation: the matcher does not compare squeezed text, because a squeezed "good"
can no longer be told from an elongated "gooood"; instead each term letter becomes
a pattern: a single letter matches one copy or three or more ("iiiidiot" matches
"idiot"), a doubled letter matches two or more ("asssss" matches "ass", but "as"
does not, and "good" does not match "god").

Plurals: a term also matches its regular English plural, the last word plus "s",
or plus "es" where English writes it (after s, x, z, ch, sh or o): "scumbag"
matches "scumbags", "ass" "asses", "hero" "heroes". Nothing else: no stemming,
no "-ies" ("pussy" does not match "pussies"), no irregular plurals; list those as
terms of their own. "spic" does not match "spices", since "es" follows only those
endings.

Matching: a term occurs where its words occur with no letter or digit on either
side; between the words of a multi-word term any run of spaces, punctuation and
invisible characters is allowed, including none ("#whitepower"). The comment is
searched in several forms: with and without the leet mapping, so the mapping can
add matches ("1d10t") but never hide one ("idiot!Go" alone would read
"idiotigo"), and each reading of its spaced-out letters (with a one-letter word
before or after them left standing, or joined: "a s c u m b a g" is searched as
"ascumbag" and as "a scumbag"); the leet forms read symbol sequences ("|_|") before
the letters are joined. Terms get the same folding; those that fold to the
same words are one term (the first spelling is reported), and terms without any
letter or digit ("!!!") are ignored. A run of symbols only ("@$$", "$$$") is not
leetspeak: it reads as punctuation or money.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable

from moderation.textmatch.normalization import (
    WORD,
    WORD_CHAR,
    fold,
    join_spaced,
    spaced_forms,
    unleet_chars,
    unleet_sequences,
)

__all__ = ["TermMatcher"]

_RUNS = re.compile(r"(.)\1*", re.DOTALL)
_BEFORE = rf"(?<!{WORD_CHAR})"
_AFTER = rf"(?!{WORD_CHAR})"
# Between the words of a multi-word term: any punctuation/space, or none at all so
# that hashtags and joined spellings ("#whitepower") still match.
_GAP = r"[\W_]*+"
_GAP_SOME = r"[\W_]++"


def _word_tokens(word: str) -> list[str]:
    tokens: list[str] = []
    for run in _RUNS.finditer(word):
        char = re.escape(run.group(1))
        if not run.group(1).isalpha():
            tokens.append(re.escape(run.group()))
        elif len(run.group()) == 1:
            # One copy, or an elongation of three or more; two copies is a different
            # spelling ("good" is not "god").
            tokens.append(f"(?>{char}(?:{char}{char}+)?)")
        elif len(run.group()) == 2:
            tokens.append(f"(?>{char}{char}+)")
        else:
            tokens.append(f"(?>{char}{{3,}})")
    # Atomic groups: a run, once read, is never given back. Consecutive tokens of a word
    # are different letters, so nothing is lost, and a term can no longer try every way
    # of cutting a long run of one letter between its words (a 6-word term "aa aa …"
    # took 5 s on 80 a's).
    return tokens


# Endings after which the English plural adds "es" ("buses", "boxes", "churches",
# "heroes"); after any other letter it adds "s".
_ES_ENDINGS = ("s", "x", "z", "ch", "sh", "o")


def _plural_token(word: str) -> str:
    """The optional plural ending of a term's last word (nothing after a digit)."""
    if not word[-1].isalpha():
        return ""
    return "(?:e?s)?" if word.endswith(_ES_ENDINGS) else "s?"


def _form_tokens(words: tuple[str, ...]) -> list[str]:
    tokens = _word_tokens(words[0])
    for previous, word in itertools.pairwise(words):
        following = _word_tokens(word)
        letter = word[0]
        if letter.isalpha() and previous[-1] == letter:
            # "bad dog" joined is "baddog": one run of d's spans both words. Read it as
            # one atomic token — the letter, separated or joined — so that the run is not
            # cut up between the words in every possible way.
            char = re.escape(letter)
            tokens[-1] = f"(?>{char}+{_GAP_SOME}{char}+|{char}{{2,}})"
            tokens.extend(following[1:])
            continue
        tokens.append(_GAP)
        tokens.extend(following)
    plural = _plural_token(words[-1])
    if plural:
        tokens.append(plural)
    return tokens


def _term_forms(term: str) -> list[tuple[str, ...]]:
    """Word tuples of a term, leet-mapped first, then unmapped; [] if it has no words."""
    folded = fold(term)
    literal = join_spaced(folded)
    # Read like the text's leet forms (see _forms).
    mapped = tuple(WORD.findall(unleet_chars(join_spaced(unleet_sequences(folded)))))
    if not mapped:
        return []
    unmapped = tuple(WORD.findall(literal))
    # The unmapped spelling is kept only where leet turned digits into letters
    # ("4chan"): where it mapped a symbol, the unmapped words are fragments ("a$$"
    # would leave "a") that would match far too much.
    if unmapped != mapped and list(map(len, unmapped)) == list(map(len, mapped)):
        return [mapped, unmapped]
    return [mapped]


class _Node:
    """A node of the token trie the combined pattern is generated from."""

    __slots__ = ("children", "ends")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.ends: list[int] = []


# Prefix sharing pays off in the first few tokens; below this depth each remaining
# branch is spelled out in a flat alternation, so that neither this code nor the
# re compiler (both recursive) nests deeper than this for long or many-prefixed
# terms.
_TRIE_DEPTH = 4


def _trie_pattern(node: _Node, group_terms: list[int], depth: int = 0) -> str:
    # Python's re tries alternatives one by one, so a flat alternation of N terms
    # costs N attempts at every word start; sharing prefixes makes it ~one per
    # distinct first letter. Each term ends in an empty group, appended to
    # group_terms in the order the groups appear in the pattern, so
    # match.lastindex names the term.
    if depth == _TRIE_DEPTH:
        alternatives = [suffix + f"{_AFTER}()" for suffix in _flat_suffixes(node, group_terms)]
    else:
        alternatives = [
            token + _trie_pattern(child, group_terms, depth + 1)
            for token, child in node.children.items()
        ]
        for term in node.ends:
            group_terms.append(term)
            alternatives.append(f"{_AFTER}()")
    if len(alternatives) == 1:
        return alternatives[0]
    return "(?:" + "|".join(alternatives) + ")"


def _flat_suffixes(node: _Node, group_terms: list[int]) -> list[str]:
    """Every token path from ``node`` to a term end; the terms go to group_terms."""
    # Iterative, with parent links instead of copied prefixes, so a term thousands
    # of tokens long costs neither recursion nor quadratic copying.
    links: list[tuple[str, int]] = []  # (token, index of parent link or -1)
    stack: list[tuple[_Node, int]] = [(node, -1)]
    suffixes: list[str] = []
    while stack:
        current, link = stack.pop()
        for term in current.ends:
            tokens: list[str] = []
            at = link
            while at >= 0:
                tokens.append(links[at][0])
                at = links[at][1]
            suffixes.append("".join(reversed(tokens)))
            group_terms.append(term)
        for token, child in current.children.items():
            links.append((token, link))
            stack.append((child, len(links) - 1))
    return suffixes


_REPEATS = re.compile(r"(.)\1+")


def _collapse(words: tuple[str, ...]) -> str:
    return _REPEATS.sub(r"\1", "".join(words))


def _companions(collapsed: list[tuple[str, int]], count: int) -> list[tuple[int, ...]]:
    """For each term, the other terms that may match at the same position.

    A match's letters and digits, with runs collapsed, spell its term's words with
    runs collapsed (separators and elongations vanish), perhaps followed by a
    plural ending. Two terms matching from the same position therefore have
    collapsed spellings one of which is a prefix of the other. In sorted order,
    the strings starting with a prefix follow it.
    """
    related: list[set[int]] = [set() for _ in range(count)]
    ordered = sorted(collapsed)
    for position, (prefix, term) in enumerate(ordered):
        following = position + 1
        while following < len(ordered) and ordered[following][0].startswith(prefix):
            other = ordered[following][1]
            if other != term:
                related[term].add(other)
                related[other].add(term)
            following += 1
    return [tuple(sorted(others)) for others in related]


def _forms(text: str) -> list[str]:
    """The forms of ``text`` the matcher searches, leet-mapped ones first."""
    folded = fold(text)
    plain = spaced_forms(folded)
    # Symbol sequences ("|_|") are read before spaced-out letters are joined, so
    # that joining cannot make one ("x | 3" is not "x|3", "xb").
    glyphs = unleet_sequences(folded)
    if glyphs is folded and len(plain) == 1:  # the usual case, in short
        leet = unleet_chars(plain[0])
        return [leet, plain[0]] if leet != plain[0] else plain
    bases = plain if glyphs == folded else spaced_forms(glyphs)
    forms = dict.fromkeys(unleet_chars(base) for base in bases)
    forms.update(dict.fromkeys(plain))
    return list(forms)


class TermMatcher:
    """Finds configured terms in comments, as whole words, resisting common evasions.

    Text and terms go through the same folding (see :mod:`.normalization`). All
    patterns are compiled by the constructor: one combined pattern (a trie of all
    terms) that scans the comment, and one per term, used only at a position where
    the combined pattern found a term, to see whether a related term ("white"
    under "white power") matches there too.
    """

    __slots__ = ("_companions", "_group_term", "_pattern", "_single", "_terms")

    def __init__(self, terms: Iterable[str]) -> None:
        """Compile ``terms``; blank terms, duplicates and terms without words are dropped.

        Two terms are duplicates when they fold to the same words; the first
        spelling is kept and is the one :meth:`find` reports.
        """
        self._terms: list[str] = []
        self._single: list[re.Pattern[str]] = []
        collapsed: list[tuple[str, int]] = []
        root = _Node()
        seen: set[tuple[str, ...]] = set()
        for term in terms:
            forms = _term_forms(term)
            if not forms or forms[0] in seen:
                continue
            seen.add(forms[0])
            index = len(self._terms)
            self._terms.append(term)
            bodies: list[str] = []
            for words in forms:
                tokens = _form_tokens(words)
                bodies.append("".join(tokens))
                node = root
                for token in tokens:
                    node = node.children.setdefault(token, _Node())
                node.ends.append(index)
            self._single.append(re.compile(f"{_BEFORE}(?:{'|'.join(bodies)}){_AFTER}"))
            collapsed.extend((_collapse(words), index) for words in forms)
        self._companions = _companions(collapsed, len(self._terms))
        group_terms: list[int] = []
        # The lookahead makes every match zero-width, so overlapping terms ("white
        # power" and "power") are all seen.
        self._pattern: re.Pattern[str] | None = (
            re.compile(f"{_BEFORE}(?={_trie_pattern(root, group_terms)})") if self._terms else None
        )
        self._group_term: dict[int, int] = {
            group: term for group, term in enumerate(group_terms, start=1)
        }

    def find(self, text: str) -> list[str]:
        """Return the configured terms occurring in ``text``.

        Each term is reported once, in its configured spelling, in configuration
        order. A term occurs when it appears as a whole word (no letter or digit on
        either side), or as its plural, in one of the folded forms of the text, with
        the words of a multi-word term separated by any run of spaces/punctuation
        (or none).
        """
        if self._pattern is None:
            return []
        found: set[int] = set()
        for form in _forms(text):
            for match in self._pattern.finditer(form):
                term = self._group_term[match.lastindex or 0]
                found.add(term)
                # The alternation reports one term per position; others that can
                # start at the same place ("white" under "white power") are checked
                # here.
                for other in self._companions[term]:
                    if other not in found and self._single[other].match(form, match.start()):
                        found.add(other)
            if len(found) == len(self._terms):
                break
        return [self._terms[index] for index in sorted(found)]
