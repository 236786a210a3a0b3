"""Unicode normalisation, look-alike letters and leetspeak: the folding every matcher shares.

:func:`normalize` is the public face; :mod:`.terms`, :mod:`.links` and
:mod:`.prefilter` build on the helpers and, above all, on the two tables here:
:data:`LOOKALIKES` and :data:`LEETSPEAK` are the only spelling of those rules in
the package, and everything else (the regular expressions below, the link
table, the backtest prefilter's byte tables) is derived from them.

Folding (shared by :func:`normalize` and :class:`~moderation.textmatch.TermMatcher`):

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

Leetspeak (``0 1 3 4 5 7 8 @ $ ! | +`` -> ``o i e a s t b a s i l t``, :data:`LEETSPEAK`):

* A *run* is a maximal sequence of letters, digits and those symbols. Leet
  characters are mapped only inside a run that also contains a letter, so plain
  numbers ("1945", "3 soldiers", "$5", "1337") never become letters.
* A run that is a number with a unit or ordinal suffix ("3rd", "45s", "80s", "5am",
  "$5k", "10km") is left alone too, so "45s" is not "ass".
* ``!`` and ``+`` at the *end* of a run are punctuation ("idiot!", "C++"), not
  letters.

Spaced-out words (:func:`join_spaced`, which only the term matcher applies): three
or more single characters, each separated by exactly one separator character, the
same one every time ("i d i o t", "i.d.i.o.t", "s-c-u-m"), are joined into one
word. Mixed or doubled separators are not joined, so real prose such as "is cum"
or "a scum" stays as two words.

Elongation: :func:`normalize` squeezes runs of three or more identical letters to
two ("stuuuupid" -> "stuupid"); the term matcher handles elongation in its
patterns instead (see :mod:`.terms`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

__all__ = [
    "LEETSPEAK",
    "LEET_SYMBOLS",
    "LOOKALIKES",
    "WORD",
    "WORD_CHAR",
    "delete_invisible",
    "fold",
    "join_spaced",
    "normalize",
    "translate_non_ascii",
    "unleet",
]

# --------------------------------------------------------------------------- tables

# Source -> Latin. Capitals are listed separately because a capital can look like a
# different Latin letter than its lower case (Greek Η is "h", η is "n"), and this
# table is applied before casefolding.
LOOKALIKES: Mapping[str, str] = {
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


# Character -> the letter it stands for in leetspeak (where it does: see the module
# docstring). The one spelling of the table: the patterns below and the backtest
# prefilter (.prefilter) are derived from it, so they cannot drift apart.
LEETSPEAK: Mapping[str, str] = {
    "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b",
    "@": "a", "$": "s", "!": "i", "|": "l", "+": "t",
}  # fmt: skip
# The leet characters that are not letters or digits: punctuation, except inside a
# run with a letter.
LEET_SYMBOLS = "".join(char for char in LEETSPEAK if not char.isalnum())

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


# find_links deletes only the invisible characters; the folding deletes marks too.
delete_invisible = _Deleter(_FORMAT_CHARS)
_delete_invisible_and_marks = _Deleter(_FORMAT_CHARS + _MARKS)

_LOOKALIKE_MAPPING: dict[int, str | None] = {ord(char): latin for char, latin in LOOKALIKES.items()}
_LOOKALIKE_TABLE: dict[int, str | None] = str.maketrans(_LOOKALIKE_MAPPING)
_LEET_MAPPING: dict[str, str | None] = dict(LEETSPEAK)
_LEET: dict[int, str | None] = str.maketrans(_LEET_MAPPING)

# ------------------------------------------------------------------------- folding

# A "word character" for the whole package is a letter or digit; "_" is a separator.
WORD_CHAR = r"[^\W_]"
WORD = re.compile(WORD_CHAR + "+")
_W = WORD_CHAR
# The leet symbols, escaped for a character class.
_SYMBOLS = re.escape(LEET_SYMBOLS)
# Characters that can stand for a letter in leetspeak but are punctuation otherwise.
_SYM = f"[{_SYMBOLS}]"
_RUNCH = rf"(?:{_W}|{_SYM})"
_RUN_START = rf"(?<!{_W})(?<!{_SYM})"

_LEET_CHAR = re.compile(f"[{re.escape(''.join(LEETSPEAK))}]")
_RUN_REST = re.compile(rf"{_RUNCH}*+")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_NUMBER_WITH_UNIT = re.compile(
    r"\$?\d+(?:s|st|nd|rd|th|am|pm|k|m|b|x|h|d|g|p|km|kg|cm|mm|ml|gb|mb|tb|kb|mph|kph|hz"
    r"|khz|mhz|ghz|ft|lb|lbs|oz|yo|yr|yrs|hr|hrs|min|mins|sec|secs|ms|fps|px|pt|mp|v|w|kw"
    r"|kwh|mah)"
)

# 3+ single run characters separated by one and the same separator character.
_SPACED = re.compile(
    rf"{_RUN_START}{_RUNCH}([^\w{_SYMBOLS}]|_){_RUNCH}(?:\1{_RUNCH})+(?!{_W})(?!{_SYM})"
)
_ELONGATED = re.compile(r"([^\W\d_])\1{2,}")
# Cheap necessary conditions, checked first because most comments need neither
# rewrite and the full patterns cost a per-position attempt.
_ELONGATED_HINT = re.compile(r"(.)\1\1")
_SPACED_HINT = re.compile(rf"(\W|_)[\w{_SYMBOLS}]\1[\w{_SYMBOLS}](?![^\W_])")


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def translate_non_ascii(text: str, table: dict[int, str | None]) -> str:
    """``text.translate(table)`` for a table that maps only non-ASCII characters."""
    # Comments are mostly ASCII with the odd curly quote, and str.translate leaves
    # its fast path at the first non-ASCII character; translating only the
    # non-ASCII stretches is several times faster.
    if text.isascii():
        return text
    return _NON_ASCII.sub(lambda match: match.group().translate(table), text)


def fold(text: str) -> str:
    """NFKD, delete invisible characters and marks, map look-alikes, casefold, NFC."""
    if text.isascii():
        return text.casefold()  # nothing to decompose, delete or map
    # NFKD first so that marks are separate characters that can be deleted; NFC at
    # the end recomposes what legitimately needs composing (Hangul syllables).
    decomposed = _delete_invisible_and_marks(unicodedata.normalize("NFKD", text))
    folded = translate_non_ascii(decomposed, _LOOKALIKE_TABLE).casefold()
    return unicodedata.normalize("NFC", folded)


def _is_run_char(char: str) -> bool:
    return char.isalnum() or char in LEET_SYMBOLS


def _leet_word(run: str) -> str:
    if not _HAS_LETTER.search(run) or _NUMBER_WITH_UNIT.fullmatch(run):
        return run
    core = run.rstrip("!+")
    return core.translate(_LEET) + run[len(core) :]


def unleet(text: str) -> str:
    """Map leetspeak inside the runs of ``text`` that contain a letter."""
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


def join_spaced(text: str) -> str:
    """Join spaced-out words ("i d i o t" -> "idiot"; see the module docstring)."""
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
    return _squeeze(unleet(fold(text)))
