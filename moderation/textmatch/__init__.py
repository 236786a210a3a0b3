"""Evasion-resistant matching of guideline terms and links in comment text.

The community guidelines say: *terms match whole words, case-insensitively, after
Unicode normalisation that defeats zero-width characters, look-alike letters and
simple leetspeak*; comments with links are held for review. This module is the
implementation of that sentence. It is pure standard library and every table and
regular expression is built once, at import or at :class:`TermMatcher`
construction, because ``find`` and ``find_links`` run for every comment.

Rules chosen (the contract leaves them to us)
---------------------------------------------
Folding (shared by :func:`normalize` and :class:`TermMatcher`):

* NFKD, then delete every invisible format character (category ``Cf``: zero-width
  space/joiners, word joiner, BOM, soft hyphen, bidi controls, tag characters, plus
  the Hangul fillers that render blank), every combining mark (``Mn``/``Me``, so
  "ídiot" is "idiot"), then map look-alike letters (Cyrillic, Greek, small capitals,
  a few stroked Latin letters) to Latin, casefold, and recompose with NFC. NFKD
  already turns fullwidth and mathematical letters into plain ones. Look-alikes are
  folded everywhere, not only in mixed-script words, because an all-Cyrillic
  "іԁіот" is as easy to type as a mixed one; the price is that a Cyrillic or Greek
  word made only of look-alike letters (Russian "рот") compares equal to its Latin
  twin ("pot").

Leetspeak (``0 1 3 4 5 7 8 @ $ ! | +`` -> ``o i e a s t b a s i l t``):

* A *run* is a maximal sequence of letters, digits and those symbols. Leet
  characters are mapped only inside a run that also contains a letter, so plain
  numbers ("1945", "3 soldiers", "$5", "1337") never become letters.
* A run that is a number with a unit or ordinal suffix ("3rd", "45s", "80s", "5am",
  "$5k", "10km") is left alone too, so "45s" is not "ass".
* ``!`` and ``+`` at the *end* of a run are punctuation ("idiot!", "C++"), not
  letters.

Spaced-out words (:class:`TermMatcher` only): three or more single characters,
each separated by exactly one separator character, the same one every time
("i d i o t", "i.d.i.o.t", "s-c-u-m"), are joined into one word. Mixed or doubled
separators are not joined, so real prose such as "is cum" or "a scum" stays as
two words.

Elongation: :func:`normalize` squeezes runs of three or more identical letters to
two ("stuuuupid" -> "stuupid"). :class:`TermMatcher` does not compare squeezed
text, because a squeezed "good" can no longer be told from an elongated "gooood";
instead each term letter becomes a pattern: a single letter matches one copy or
three or more ("iiiidiot" matches "idiot"), a doubled letter matches two or more
("asssss" matches "ass", but "as" does not, and "good" does not match "god").

Matching (:class:`TermMatcher`): a term occurs where its words occur with no
letter or digit on either side; between the words of a multi-word term any run of
spaces, punctuation and invisible characters is allowed, including none
("#whitepower"). The comment is searched in two forms, with and without the leet
mapping, so the mapping can add matches ("1d10t") but never hide one ("idiot!Go"
alone would read "idiotigo"). Terms get the same folding; those that fold to the
same words are one term (the first spelling is reported), and terms without any
letter or digit ("!!!") are ignored. A run of symbols only ("@$$", "$$$") is not
leetspeak: it reads as punctuation or money.

Links: see :func:`find_links`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = ["TermMatcher", "find_links", "normalize"]

# --------------------------------------------------------------------------- tables

# Source -> Latin. Capitals are listed separately because a capital can look like a
# different Latin letter than its lower case (Greek Η is "h", η is "n"), and this
# table is applied before casefolding.
_LOOKALIKES: dict[str, str] = {
    # Cyrillic
    "а": "a", "А": "a", "в": "b", "В": "b", "е": "e", "Е": "e", "к": "k", "К": "k",
    "м": "m", "М": "m", "н": "h", "Н": "h", "о": "o", "О": "o", "р": "p", "Р": "p",
    "с": "c", "С": "c", "т": "t", "Т": "t", "у": "y", "У": "y", "х": "x", "Х": "x",
    "і": "i", "І": "i", "ј": "j", "Ј": "j", "ѕ": "s", "Ѕ": "s", "ԁ": "d", "Ԁ": "d",
    "һ": "h", "Һ": "h", "ԛ": "q", "Ԛ": "q", "ԝ": "w", "Ԝ": "w", "ӏ": "l", "Ӏ": "i",
    "ү": "y", "Ү": "y", "ԍ": "g", "Ԍ": "g",
    # Greek
    "α": "a", "Α": "a", "β": "b", "Β": "b", "γ": "y", "ε": "e", "Ε": "e", "Ζ": "z",
    "η": "n", "Η": "h", "ι": "i", "Ι": "i", "κ": "k", "Κ": "k", "Μ": "m", "ν": "v",
    "Ν": "n", "ο": "o", "Ο": "o", "ρ": "p", "Ρ": "p", "τ": "t", "Τ": "t", "υ": "u",
    "Υ": "y", "χ": "x", "Χ": "x", "ω": "w",
    # Armenian
    "օ": "o", "Օ": "o", "ս": "u", "հ": "h", "ո": "n",
    # Latin small capitals and IPA letters that render like plain letters
    "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ꜰ": "f", "ɢ": "g", "ʜ": "h",
    "ɪ": "i", "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p",
    "ʀ": "r", "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z",
    "ɑ": "a", "ɡ": "g", "ı": "i", "ȷ": "j", "ɩ": "i",
    # Latin letters whose stroke is not a combining mark, so NFKD keeps them
    "ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ħ": "h", "Ħ": "h",
    "ŧ": "t", "Ŧ": "t", "ƀ": "b", "ɨ": "i", "ʉ": "u",
}  # fmt: skip

# Blank-rendering letters (category Lo, so the Cf sweep misses them); NFKD already
# maps U+3164 and U+FFA0 to U+1160.
_EXTRA_INVISIBLE = (0x115F, 0x1160, 0x3164, 0xFFA0)

# Marks and format characters only occur in the BMP, the SMP and plane 14 (tags,
# variation selectors); planes 2-3 are ideographs. Scanning just those keeps the
# import-time sweep to a few tens of milliseconds.
_SCANNED = (range(0x20000), range(0xE0000, 0xE1000))


def _invisible_and_marks() -> tuple[list[int], list[int]]:
    fmt: list[int] = list(_EXTRA_INVISIBLE)
    marks: list[int] = []
    for block in _SCANNED:
        for cp in block:
            category = unicodedata.category(chr(cp))
            if category == "Cf":
                fmt.append(cp)
            elif category in ("Mn", "Me"):
                marks.append(cp)
    return fmt, marks


_FORMAT_CHARS, _MARKS = _invisible_and_marks()


def _char_class(code_points: Iterable[int]) -> str:
    """A regex character class of the code points, as ranges."""
    ranges: list[list[int]] = []
    for cp in sorted(code_points):
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    if not ranges:
        return "(?!)"  # "[]" is not a valid class; this never matches
    body = "".join(
        re.escape(chr(first)) + ("" if first == last else "-" + re.escape(chr(last)))
        for first, last in ranges
    )
    return f"[{body}]"


class _Deleter:
    """Deletes a set of characters from strings.

    A character class is a single C-level pass that skips quickly over text with
    nothing to delete, where str.translate costs ~80 ns a character once it has met
    a non-ASCII one. The class is split: re compiles BMP ranges into a bitmap but
    tests astral ranges one by one (~250 us per 1,000 characters for the marks), so
    the astral part only runs when the text has an astral character at all.
    """

    __slots__ = ("_astral", "_bmp")

    _HAS_ASTRAL = re.compile("[\U00010000-\U0010ffff]")

    def __init__(self, code_points: Iterable[int]) -> None:
        chosen = sorted(code_points)
        self._bmp = re.compile(_char_class(cp for cp in chosen if cp <= 0xFFFF) + "+")
        self._astral = re.compile(_char_class(cp for cp in chosen if cp > 0xFFFF) + "+")

    def __call__(self, text: str) -> str:
        text = self._bmp.sub("", text)
        if self._HAS_ASTRAL.search(text):
            text = self._astral.sub("", text)
        return text


_delete_invisible = _Deleter(_FORMAT_CHARS)
_delete_invisible_and_marks = _Deleter(_FORMAT_CHARS + _MARKS)

_LOOKALIKE_MAPPING: dict[int, str | None] = {ord(k): v for k, v in _LOOKALIKES.items()}
_LOOKALIKE_TABLE: dict[int, str | None] = str.maketrans(_LOOKALIKE_MAPPING)
# find_links returns slices of its input, so its mapping must keep positions: it is
# strictly one character to one.
_LINK_MAPPING = dict(_LOOKALIKE_MAPPING)
# Ideographic full stops: browsers treat them as dots in host names.
_LINK_MAPPING.update({0x3002: ".", 0xFF61: "."})
_LINK_TABLE: dict[int, str | None] = str.maketrans(_LINK_MAPPING)

_LEET_MAPPING: dict[str, str | None] = {
    "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b",
    "@": "a", "$": "s", "!": "i", "|": "l", "+": "t",
}  # fmt: skip
_LEET: dict[int, str | None] = str.maketrans(_LEET_MAPPING)

# ------------------------------------------------------------------------- folding

# A "word character" for the whole module is a letter or digit; "_" is a separator.
_W = r"[^\W_]"
# Characters that can stand for a letter in leetspeak but are punctuation otherwise.
_SYM = r"[@$!|+]"
_RUNCH = rf"(?:{_W}|{_SYM})"
_RUN_START = rf"(?<!{_W})(?<!{_SYM})"

_LEET_CHAR = re.compile(r"[0134578@$!|+]")
_RUN_REST = re.compile(rf"{_RUNCH}*+")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_NUMBER_WITH_UNIT = re.compile(
    r"\$?\d+(?:s|st|nd|rd|th|am|pm|k|m|b|x|h|d|g|p|km|kg|cm|mm|ml|gb|mb|tb|kb|mph|kph|hz"
    r"|khz|mhz|ghz|ft|lb|lbs|oz|yo|yr|yrs|hr|hrs|min|mins|sec|secs|ms|fps|px|pt|mp|v|w|kw"
    r"|kwh|mah)"
)

# 3+ single run characters separated by one and the same separator character.
_SPACED = re.compile(
    rf"{_RUN_START}{_RUNCH}([^\w@$!|+]|_){_RUNCH}(?:\1{_RUNCH})+(?!{_W})(?!{_SYM})"
)
_ELONGATED = re.compile(r"([^\W\d_])\1{2,}")
# Cheap necessary conditions, checked first because most comments need neither
# rewrite and the full patterns cost a per-position attempt.
_ELONGATED_HINT = re.compile(r"(.)\1\1")
_SPACED_HINT = re.compile(r"(\W|_)[\w@$!|+]\1[\w@$!|+](?![^\W_])")


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _translate_non_ascii(text: str, table: dict[int, str | None]) -> str:
    # Comments are mostly ASCII with the odd curly quote, and str.translate leaves
    # its fast path at the first non-ASCII character; translating only the
    # non-ASCII stretches is several times faster.
    if text.isascii():
        return text
    return _NON_ASCII.sub(lambda match: match.group().translate(table), text)


def _fold(text: str) -> str:
    if text.isascii():
        return text.casefold()  # nothing to decompose, delete or map
    # NFKD first so that marks are separate characters that can be deleted; NFC at
    # the end recomposes what legitimately needs composing (Hangul syllables).
    decomposed = _delete_invisible_and_marks(unicodedata.normalize("NFKD", text))
    folded = _translate_non_ascii(decomposed, _LOOKALIKE_TABLE).casefold()
    return unicodedata.normalize("NFC", folded)


def _is_run_char(char: str) -> bool:
    return char.isalnum() or char in "@$!|+"


def _leet_word(run: str) -> str:
    if not _HAS_LETTER.search(run) or _NUMBER_WITH_UNIT.fullmatch(run):
        return run
    core = run.rstrip("!+")
    return core.translate(_LEET) + run[len(core) :]


def _unleet(text: str) -> str:
    # Leet characters are rare in prose, so the scan is driven by a single-class
    # search (fast) and each hit is widened to its run by hand, instead of a
    # regex that would have to try every position.
    match = _LEET_CHAR.search(text)
    if match is None:
        return text
    pieces: list[str] = []
    done = 0
    while match is not None:
        start = match.start()
        while start > done and _is_run_char(text[start - 1]):
            start -= 1
        rest = _RUN_REST.match(text, match.end())
        end = rest.end() if rest is not None else match.end()
        pieces.append(text[done:start])
        pieces.append(_leet_word(text[start:end]))
        done = end
        match = _LEET_CHAR.search(text, end)
    pieces.append(text[done:])
    return "".join(pieces)


def _join_spaced(text: str) -> str:
    if not _SPACED_HINT.search(text):
        return text
    # The match alternates element, separator, element..., so every other character
    # is the word.
    return _SPACED.sub(lambda m: m.group()[::2], text)


def _squeeze(text: str) -> str:
    if not _ELONGATED_HINT.search(text):
        return text
    return _ELONGATED.sub(r"\1\1", text)


def normalize(text: str) -> str:
    """Return the canonical, evasion-resistant form of ``text``.

    Steps: NFKD; delete invisible format characters (category Cf, e.g. U+200B,
    U+200D, U+2060, U+FEFF, U+00AD) and combining marks; map look-alike letters
    (Cyrillic, Greek, small capitals) to Latin; casefold; NFC; map leetspeak inside
    runs that contain a letter (not in plain numbers or numbers with a unit such as
    "3rd", and not a trailing ``!``/``+``); squeeze runs of three or more identical
    letters to two.

    >>> normalize("Ｙou 1d10t!!! In 1945, 3 soldiers")
    'you idiot!!! in 1945, 3 soldiers'
    """
    return _squeeze(_unleet(_fold(text)))


# ------------------------------------------------------------------------- matching

_WORD = re.compile(_W + "+")
_RUNS = re.compile(r"(.)\1*", re.DOTALL)
_BEFORE = rf"(?<!{_W})"
_AFTER = rf"(?!{_W})"
# Between the words of a multi-word term: any punctuation/space, or none at all so
# that hashtags and joined spellings ("#whitepower") still match.
_GAP = r"[\W_]*"


def _word_tokens(word: str) -> list[str]:
    tokens: list[str] = []
    for run in _RUNS.finditer(word):
        char = re.escape(run.group(1))
        if not run.group(1).isalpha():
            tokens.append(re.escape(run.group()))
        elif len(run.group()) == 1:
            # One copy, or an elongation of three or more; two copies is a different
            # spelling ("good" is not "god").
            tokens.append(f"{char}(?:{char}{char}+)?")
        elif len(run.group()) == 2:
            tokens.append(f"{char}{char}+")
        else:
            tokens.append(f"{char}{{3,}}")
    return tokens


def _form_tokens(words: tuple[str, ...]) -> list[str]:
    tokens = _word_tokens(words[0])
    for word in words[1:]:
        tokens.append(_GAP)
        tokens.extend(_word_tokens(word))
    return tokens


def _term_forms(term: str) -> list[tuple[str, ...]]:
    """Word tuples of a term, leet-mapped first, then unmapped; [] if it has no words."""
    literal = _join_spaced(_fold(term))
    mapped = tuple(_WORD.findall(_unleet(literal)))
    if not mapped:
        return []
    unmapped = tuple(_WORD.findall(literal))
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
    runs collapsed (separators and elongations vanish). Two terms matching from the
    same position therefore have collapsed spellings one of which is a prefix of
    the other. In sorted order, the strings starting with a prefix follow it.
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


class TermMatcher:
    """Finds configured terms in comments, as whole words, resisting common evasions.

    Text and terms go through the same folding (see the module docstring). All
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
        either side) in the folded text, with the words of a multi-word term
        separated by any run of spaces/punctuation (or none).
        """
        if self._pattern is None:
            return []
        plain = _join_spaced(_fold(text))
        leet = _unleet(plain)
        found: set[int] = set()
        for form in (leet, plain) if leet != plain else (plain,):
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


# ---------------------------------------------------------------------------- links


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# TLDs that are not common words: a bare "name.tld" is a link.
_STRONG_TLDS = _words(
    """
    com net org edu gov mil int info biz io co ly tv cc ws fm gl gd su uk eu us
    de fr nl es pt ch at se dk fi pl cz sk hu ro bg gr ru ua by kz cn jp kr tw hk sg
    my th vn ph au nz ca mx br ar cl pe ve za ng ke eg ma tr il ir pk bd lk ie lu li
    xyz top icu tk ml ga cf gq buzz wang vip bid loan men date review stream trade
    mobi asia tel travel museum aero coop jobs onion
    """
)
# TLDs that are everyday words ("the war.it was", "fine.so what"): a bare name with
# one of these is a link only with a path or port, a known second level
# ("bbc.co.in"), an e-mail user, or as a well-known short host.
_WEAK_TLDS = _words(
    """
    it in is me to be by do no so go am as an hi id ai la
    app dev pro blog news live shop store site online space website page link click
    fun win one art life world today cool club tech name
    """
)
_SECOND_LEVELS = frozenset({"co", "com", "org", "net", "gov", "edu", "ac", "ltd", "plc"})
_SHORT_HOSTS = frozenset(
    {"youtu.be", "t.me", "wa.me", "fb.me", "redd.it", "dlvr.it", "lnkd.in", "amzn.to",
     "instagr.am", "msft.it"}
)  # fmt: skip
# A spelled "dot" is also ordinary English ("the dot com bubble").
_DOT_STOPWORDS = _words(
    """
    the a an this that these those his her their our my your its of in on at to for
    from by with and or but was is are be been first early late old big new no any
    every some
    """
)
_DOT_COM_PHRASES = re.compile(r"\s+(?:bubble|boom|bust|era|crash|compan|startup|mania|days)", re.I)

_DOT = r"(?:\.|[ \t]+\.[ \t]+|\s*[\[({<]\s*(?:\.|dot)\s*[\])}>]\s*|\s+dot\s+)"
_SPELLED_DOT = re.compile(r"\sdot\s", re.I)
_LABEL = r"[^\W_][\w-]*+"
_TAIL = r"(?::\d{1,5}(?![\w]))?(?:[/?#][^\s<>\"]*)?"
_LINK = re.compile(
    rf"""
    (?<![\w@/+-])
    (?:
        (?P<url>(?:https?|ftps?|sftp|hxxps?)://[^\s<>"]+)
      | (?P<www>www\d{{0,3}}{_DOT}(?:{_LABEL}{_DOT})*{_LABEL}{_TAIL})
      | (?P<bare>
            (?P<user>[\w.+-]++@)?
            (?:{_LABEL}{_DOT})*
            (?P<sld>{_LABEL}){_DOT}
            (?P<tld>(?-i:[a-z]{{2,}}+|[A-Z]{{2,}}+))(?!{_W})
            (?P<tail>{_TAIL})
        )
    )
    """,
    re.IGNORECASE | re.VERBOSE,
)
# Every link form contains one of these: a dot followed by a letter or digit, a
# spaced or bracketed dot, "@", "://" or a spelled "dot". They all begin with a
# literal, which lets the regex engine skip straight to them; the link pattern
# is then tried only from the start of the word in front of each (see
# _link_start), instead of at every position of the comment.
_LINK_CANDIDATE = re.compile(
    r"\.(?:(?=[^\W_])|(?<=[ \t]\.)(?=[ \t])|(?=\s*[\])}>]))"
    r"|@(?<=[\w+-]@)|://(?<=[^\W_]://)"
    r"|d(?i:ot)(?<=[\s\[({<]...)(?![^\W_])"
    r"|D(?i:ot)(?<=[\s\[({<]...)(?![^\W_])"
)
_BEFORE_DOT = " \t\r\n[({<"
_HOST_CHAIN = re.compile(rf"(?:{_LABEL}{_DOT})*+", re.IGNORECASE)
_TRAILING_PUNCT = ".,;:!?'\"*"
_CLOSERS = {")": "(", "]": "[", "}": "{", ">": "<"}


def _trim(link: str) -> str:
    # Sentence punctuation after a link is not part of it; a closing bracket is,
    # when the link opened it (Wikipedia's "Foo_(bar)").
    while link:
        last = link[-1]
        unbalanced = last in _CLOSERS and link.count(last) > link.count(_CLOSERS[last])
        if last in _TRAILING_PUNCT or unbalanced:
            link = link[:-1]
        else:
            break
    return link


def _spelled_dot_in_prose(match: re.Match[str]) -> bool:
    """True for "the dot com bubble": a spelled "dot" that is English, not a link."""
    bare = match.group("bare")
    if not _SPELLED_DOT.search(bare):
        return False
    first = _WORD.match(bare)
    return (
        first is None
        or first.group().lower() in _DOT_STOPWORDS
        or _DOT_COM_PHRASES.match(match.string, match.end()) is not None
    )


def _host_is_link(match: re.Match[str]) -> bool:
    tld = match.group("tld").lower()
    if tld in _STRONG_TLDS:
        return True
    if tld not in _WEAK_TLDS:
        return False
    sld = match.group("sld").lower()
    return bool(
        match.group("user")
        or _trim(match.group("tail"))
        or sld in _SECOND_LEVELS
        or f"{sld}.{tld}" in _SHORT_HOSTS
    )


def _link_start(text: str, candidate: int) -> int:
    start = candidate
    while start > 0 and text[start - 1] in _BEFORE_DOT:
        start -= 1
    # Not back over dots: the first dot of a host or of an e-mail user name is
    # itself the first candidate, so the word before it is where the link starts.
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_+-"):
        start -= 1
    while start < candidate and not text[start].isalnum():
        start += 1
    return start


def find_links(text: str) -> list[str]:
    """Return the links in ``text``, in order, as substrings of its cleaned form.

    The cleaned form is ``text`` after NFKC with invisible format characters
    removed; matching additionally folds look-alike letters, so "ехаmple.соm" in
    Cyrillic is found. Found are: ``http(s)``/``ftp``/``sftp`` URLs (also defanged
    ``hxxp``); ``www.`` hosts with any TLD; bare domains with a known TLD
    ("example.com", "bit.ly/x", "news.co.uk"); e-mail addresses (deliberately: an
    address is contact/spam the same way a link is); and all of these with the dot
    written as ``[.]``, ``(.)``, ``[dot]``, `` dot `` or `` . ``.

    Not links: a TLD in mixed case ("the war.It was" is a sentence); a TLD that is
    also an everyday word ("it", "in", "me", "news"...) unless a path or port
    follows, it sits under a second level such as ``co``, it is part of an e-mail
    address, or the host is a well-known short host ("youtu.be"); a spelled "dot"
    after a stop word ("the dot com bubble").
    """
    cleaned = _delete_invisible(unicodedata.normalize("NFKC", text))
    # Same length as cleaned (the map is one-to-one), so spans carry over.
    mapped = _translate_non_ascii(cleaned, _LINK_TABLE)
    found: list[str] = []
    position = 0
    while (candidate := _LINK_CANDIDATE.search(mapped, position)) is not None:
        position = candidate.end()
        start = _link_start(mapped, candidate.start())
        if start == candidate.start():
            continue  # nothing in front of the dot, "@" or "://" to be a host or scheme
        match = _LINK.match(mapped, start)
        if match is None:
            # Every later dot of this host would fail the same way (the pattern can
            # skip leading labels itself); retrying from each made "a.a.a.a..."
            # quadratic.
            chain = _HOST_CHAIN.match(mapped, start)
            position = max(position, chain.end() if chain is not None else 0)
            continue
        if match.group("bare") is not None:
            if _spelled_dot_in_prose(match):
                continue  # the next word may still start a link
            if not _host_is_link(match):
                position = max(position, match.end())
                continue
        link = _trim(cleaned[match.start() : match.end()])
        if link:
            found.append(link)
        position = max(position, match.end())
    return found
