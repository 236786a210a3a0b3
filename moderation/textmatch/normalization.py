"""Unicode normalisation, look-alike letters and leetspeak: the folding every matcher shares.

:func:`normalize` is the public face; :mod:`.terms`, :mod:`.links` and
:mod:`.prefilter` build on the helpers and, above all, on the tables here:
:data:`LOOKALIKES`, :data:`LEETSPEAK` and :data:`LEET_SEQUENCES` are the only
spelling of those rules in the package, and everything else (the regular
expressions below, the link table, the backtest prefilter's byte tables) is
derived from them.

Folding (shared by :func:`normalize` and :class:`~moderation.textmatch.TermMatcher`):

* First the text is put in the order it is *displayed* in (:func:`resolve_bidi`):
  the run inside a right-to-left override (U+202E ... U+202C) is reversed, so
  "\\u202egabmucs\\u202c", which renders as "scumbag", reads "scumbag". Only that
  override reverses Latin letters; inside a left-to-right override, an embedding
  or an isolate (U+202A, U+202B, U+202D, U+2066-U+2068) they keep their order, as
  on screen, so ordinary Arabic or Hebrew text around a Latin word changes
  nothing. Nesting, the closing controls (U+202C, U+2069) and paragraph ends
  follow the Unicode bidirectional algorithm; past 125 nested blocks (its
  max_depth) openers are ignored.
* Then NFKD, then delete every invisible format character (category ``Cf``:
  zero-width space/joiners, word joiner, BOM, soft hyphen, the bidi controls, tag
  characters, plus the Hangul fillers that render blank), every combining mark
  (``Mn``/``Me``, so "ídiot" is "idiot"), then map look-alike letters (Cyrillic,
  Greek, Armenian, Cherokee, small capitals, a few stroked Latin letters, and
  the letter symbols NFKD leaves alone: parenthesised ⒜, negative circled 🅐 and
  squared 🅰 letters, regional indicators 🇦) to Latin, casefold, and recompose
  with NFC. NFKD already turns fullwidth, mathematical, circled (Ⓐ ⓐ) and
  squared (🄰) letters into plain ones; parenthesised letters are mapped before
  it, which would make "⒜" "(a)". Look-alikes are folded everywhere, not only in
  mixed-script words, because an all-Cyrillic "іԁіот" is as easy to type as a
  mixed one; the price is that a Cyrillic, Greek or Cherokee word made only of
  look-alike letters (Russian "рот") compares equal to its Latin twin ("pot"),
  and that a pair of flags reads as letters ("🇺🇸" is "us").

Leetspeak (``0 1 3 4 5 7 8 @ $ ! | +`` -> ``o i e a s t b a s i l t``, :data:`LEETSPEAK`):

* A *run* is a maximal sequence of letters, digits and those symbols. Leet
  characters are mapped only inside a run that also contains a letter, so plain
  numbers ("1945", "3 soldiers", "$5", "1337") never become letters.
* A run that is a number with a unit or ordinal suffix ("3rd", "45s", "80s", "5am",
  "$5k", "10km") is left alone too, so "45s" is not "ass".
* ``!`` and ``+`` at the *end* of a run are punctuation ("idiot!", "C++"), not
  letters.
* Letters drawn with several symbols (:data:`LEET_SEQUENCES`: ``|_|`` u,
  ``|\\/|`` and ``/\\/\\`` m, ``\\/\\/`` w, ``/\\`` a, ``\\/`` v, ``|3`` b, ``|<`` k)
  are mapped first, and only inside words: where a chain of them (one or more,
  side by side) touches a letter, as in "sc|_|m" or "|_|gly", and never in
  free-standing punctuation (" /\\ ", "|_|"). A ``(`` is a "c" only between two
  letters ("s(um"; also "word(s)", harmlessly), never where a bracket opens
  ("(like this)"). Sequences are read left to right, longest first.

Spaced-out words (:func:`spaced_forms` and :func:`join_spaced`, which only the
term matcher applies): three or more single characters (runs of one), each
separated from the next by one to three separator characters, in any mix ("i d
i o t", "i  d  i  o  t", "i.d-i.o.t", "s. c. u. m"), are joined into one word; the
last may have a "!" or "+" after it ("i d i o t!"). A run of such letters that
begins or ends with a one-letter word ("a", "i", "u") is also read with that word
left standing, so "you are a s c u m b a g" is "a scumbag" as well as "ascumbag",
and "f u c k u" is "fuck u"; the matcher searches every such reading. Two single
letters are never joined, and the letters must be single, so real prose such as
"is cum" or "a scum" stays as two words; a word is only peeled off a run that
still has three letters without it ("U S A" is "usa", never "us").

Elongation: :func:`normalize` squeezes runs of three or more identical letters to
two ("stuuuupid" -> "stuupid"); the term matcher handles elongation in its
patterns instead (see :mod:`.terms`).

Every step is a single pass (or a bounded number of passes) over the text with
patterns that cannot backtrack more than a few characters, so the work grows
linearly with the length of a comment, whatever it contains.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable, Iterator, Mapping

__all__ = [
    "LEETSPEAK",
    "LEET_SEQUENCES",
    "LEET_SYMBOLS",
    "LOOKALIKES",
    "WORD",
    "WORD_CHAR",
    "delete_invisible",
    "fold",
    "join_spaced",
    "normalize",
    "resolve_bidi",
    "spaced_forms",
    "translate_non_ascii",
    "unleet",
    "unleet_chars",
    "unleet_sequences",
]

# --------------------------------------------------------------------------- tables

# Cherokee capitals that render like Latin letters (Unicode's confusables). Their
# lower case (U+AB70-U+ABBF, U+13F8-U+13FD) is listed too, below: casefold maps
# Cherokee small letters to the capitals, so both must be in the table.
_CHEROKEE: Mapping[str, str] = {
    "Ꭰ": "d", "Ꭱ": "r", "Ꭲ": "t", "Ꭵ": "i", "Ꭹ": "y", "Ꭺ": "a", "Ꭻ": "j", "Ꭼ": "e",
    "Ꮃ": "w", "Ꮇ": "m", "Ꮋ": "h", "Ꮍ": "y", "Ꮐ": "g", "Ꮒ": "h", "Ꮓ": "z", "Ꮟ": "b",
    "Ꮢ": "r", "Ꮤ": "w", "Ꮥ": "s", "Ꮩ": "v", "Ꮪ": "s", "Ꮮ": "l", "Ꮯ": "c", "Ꮲ": "p",
    "Ꮶ": "k", "Ꮷ": "d", "Ᏻ": "g", "Ᏼ": "b",
}  # fmt: skip

# Symbols that are a Latin letter in a box, a circle or brackets and that NFKD
# does not turn into the letter: the first code point of each a-z block.
_LETTER_SYMBOL_BLOCKS = (
    0x249C,  # ⒜ parenthesised small letters (NFKD would give "(a)")
    0x1F150,  # 🅐 negative circled capitals
    0x1F170,  # 🅰 negative squared capitals
    0x1F1E6,  # 🇦 regional indicator symbols
)

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
    # Cherokee, capitals and small letters
    **_CHEROKEE,
    **{capital.lower(): latin for capital, latin in _CHEROKEE.items()},
    # Letters in brackets, circles and boxes; regional indicators
    **{
        chr(first + offset): letter
        for first in _LETTER_SYMBOL_BLOCKS
        for offset, letter in enumerate(string.ascii_lowercase)
    },
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

# Letters drawn with more than one symbol, and "(" for "c" (see the module
# docstring for where they are read as letters). Only sequences that are not
# ordinary punctuation; "ph" for "f" and the like would misread real words. The
# backtest prefilter derives its rule from this table too.
LEET_SEQUENCES: Mapping[str, str] = {
    "|_|": "u", "|\\/|": "m", "/\\/\\": "m", "\\/\\/": "w", "/\\": "a", "\\/": "v",
    "|3": "b", "|<": "k", "(": "c",
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


# find_links deletes only the invisible characters; the folding deletes marks too.
delete_invisible = _Deleter(_FORMAT_CHARS)
_delete_invisible_and_marks = _Deleter(_FORMAT_CHARS + _MARKS)

_LOOKALIKE_MAPPING: dict[int, str | None] = {ord(char): latin for char, latin in LOOKALIKES.items()}
_LOOKALIKE_TABLE: dict[int, str | None] = str.maketrans(_LOOKALIKE_MAPPING)
# The look-alikes that NFKD would take apart ("⒜" -> "(a)") are mapped before it.
_BEFORE_NFKD = {
    code: latin
    for code, latin in _LOOKALIKE_MAPPING.items()
    if unicodedata.normalize("NFKD", chr(code)) != chr(code)
}
_LEET_MAPPING: dict[str, str | None] = dict(LEETSPEAK)
_LEET: dict[int, str | None] = str.maketrans(_LEET_MAPPING)

# ------------------------------------------------------------------- display order

_LRE, _RLE, _PDF, _LRO, _RLO = "\u202a\u202b\u202c\u202d\u202e"
_LRI, _RLI, _FSI, _PDI = "\u2066\u2067\u2068\u2069"
_ISOLATES = frozenset((_LRI, _RLI, _FSI))
_OPENERS = frozenset((_LRE, _RLE, _LRO, _RLO)) | _ISOLATES
_BIDI_CONTROL = re.compile("[\u202a-\u202e\u2066-\u2069]")
# The controls and the paragraph separators (bidi class B), which close them all.
_BIDI_EVENT = re.compile("[\u202a-\u202e\u2066-\u2069\n\r\x1c-\x1e\x85\u2029]")
_MAX_BIDI_DEPTH = 125  # the bidirectional algorithm's max_depth
# What fold must deal with before NFKD: bidi controls, and look-alikes NFKD takes
# apart. All of the latter expand (fold relies on it to skip the search).
_DISPLAY_OR_BEFORE_NFKD = re.compile(
    _char_class([*map(ord, _OPENERS), ord(_PDF), ord(_PDI), *_BEFORE_NFKD])
)
_BEFORE_NFKD_EXPANDS = all(
    len(unicodedata.normalize("NFKD", chr(code))) > 1 for code in _BEFORE_NFKD
)


class _Bidi:
    """An embedding, override or isolate: its text and nested blocks, in logical order."""

    __slots__ = ("isolate", "parts", "reverse")

    def __init__(self, *, reverse: bool, isolate: bool) -> None:
        self.reverse = reverse
        self.isolate = isolate
        self.parts: list[str | _Bidi] = []


def _displayed(block: _Bidi) -> Iterator[str | _Bidi]:
    if not block.reverse:
        return iter(block.parts)
    return (part[::-1] if isinstance(part, str) else part for part in reversed(block.parts))


def resolve_bidi(text: str) -> str:
    """``text`` with its right-to-left overrides applied and its bidi controls removed.

    The run inside a right-to-left override (U+202E) is reversed, nested blocks
    included, each of which keeps its own direction; embeddings and isolates
    (U+202A, U+202B, U+202D, U+2066-U+2068) keep their content in order, because
    Latin letters inside them are displayed in order. U+202C closes the innermost
    embedding or override, U+2069 the innermost isolate and what was opened
    inside it, a paragraph separator everything; openers past depth 125 are
    ignored, with their closers, as the bidirectional algorithm says.

    >>> resolve_bidi("you \\u202egabmucs\\u202c!")
    'you scumbag!'
    """
    if _BIDI_CONTROL.search(text) is None:
        return text
    root = _Bidi(reverse=False, isolate=False)
    stack = [root]
    isolates = overflow_isolates = overflow_embeddings = 0
    done = 0
    for event in _BIDI_EVENT.finditer(text):
        if event.start() > done:
            stack[-1].parts.append(text[done : event.start()])
        done = event.end()
        char = event.group()
        if char in _OPENERS:
            isolate = char in _ISOLATES
            if len(stack) > _MAX_BIDI_DEPTH or overflow_isolates or overflow_embeddings:
                if isolate:
                    overflow_isolates += 1
                elif not overflow_isolates:
                    overflow_embeddings += 1
                continue
            block = _Bidi(reverse=char == _RLO, isolate=isolate)
            stack[-1].parts.append(block)
            stack.append(block)
            isolates += isolate
        elif char == _PDF:
            if overflow_isolates:
                pass
            elif overflow_embeddings:
                overflow_embeddings -= 1
            elif len(stack) > 1 and not stack[-1].isolate:
                stack.pop()
        elif char == _PDI:
            if overflow_isolates:
                overflow_isolates -= 1
            elif isolates:
                overflow_embeddings = 0
                while not stack.pop().isolate:
                    pass
                isolates -= 1
        else:  # a paragraph separator ends every block
            del stack[1:]
            isolates = overflow_isolates = overflow_embeddings = 0
            root.parts.append(char)
    if done < len(text):
        stack[-1].parts.append(text[done:])
    # Depth-first, each block's parts in display order: every character is copied
    # once, however deep the nesting.
    out: list[str] = []
    pending = [_displayed(root)]
    while pending:
        part = next(pending[-1], None)
        if part is None:
            pending.pop()
        elif isinstance(part, str):
            out.append(part)
        else:
            pending.append(_displayed(part))
    return "".join(out)


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
# A separator: neither a word character nor a leet symbol.
_SEPCH = rf"(?:[^\w{_SYMBOLS}]|_)"

_LEET_CHAR = re.compile(f"[{re.escape(''.join(LEETSPEAK))}]")
_RUN_REST = re.compile(rf"{_RUNCH}*+")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_NUMBER_WITH_UNIT = re.compile(
    r"\$?\d+(?:s|st|nd|rd|th|am|pm|k|m|b|x|h|d|g|p|km|kg|cm|mm|ml|gb|mb|tb|kb|mph|kph|hz"
    r"|khz|mhz|ghz|ft|lb|lbs|oz|yo|yr|yrs|hr|hrs|min|mins|sec|secs|ms|fps|px|pt|mp|v|w|kw"
    r"|kwh|mah)"
)

# Multi-character leet: longest first, so "|\/|" is "m" and not "|", "v", "|".
_SEQUENCES = {seq: letter for seq, letter in LEET_SEQUENCES.items() if len(seq) > 1}
_SEQUENCE = re.compile(
    "|".join(re.escape(seq) for seq in sorted(_SEQUENCES, key=len, reverse=True))
)
_BETWEEN_LETTERS = "".join(seq for seq in LEET_SEQUENCES if len(seq) == 1)
# Every sequence starts with one of these.
_SEQUENCE_HINT = re.compile(
    f"[{re.escape(''.join(sorted({seq[0] for seq in _SEQUENCES})) + _BETWEEN_LETTERS)}]"
)
_ASCII_LETTERS = frozenset(string.ascii_letters)


# Spaced-out words: a single run character (a run of one) after a separator, and a
# cheap necessary condition for a joinable group: two of them, at most three
# separator characters apart. Both are searched in " " + text, so that a single
# character at the very start has a separator before it; the leading class lets re
# skip ahead quickly, where a lookbehind would cost an attempt at every position.
# A letter or digit may end in "!" or "+", punctuation there as in leetspeak
# ("i d i o t!"); it is then the last of its group, and they stay.
def _spacing(word: str, run: str, separator: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    single = rf"{separator}(?:({word})([!+]*+)|({_SYM}))(?!{run})"
    hint = rf"{separator}{run}{separator}{{1,3}}{run}(?!{run})"
    return re.compile(single), re.compile(hint)


_SINGLE, _SPACED_HINT = _spacing(_W, _RUNCH, _SEPCH)
# The same with ASCII classes, several times faster, for the (usual) text whose
# letters and digits are all ASCII; for it they say the same.
_ASCII_SINGLE, _ASCII_SPACED_HINT = _spacing(
    "[0-9A-Za-z]", f"[0-9A-Za-z{_SYMBOLS}]", f"[^0-9A-Za-z{_SYMBOLS}]"
)
_MAX_GAP = 3
_MIN_SPACED = 3
# One-letter words that can stand in front of, or after, spaced-out letters.
_ONE_LETTER_WORDS = frozenset("aiuAIU")

_ELONGATED = re.compile(r"([^\W\d_])\1{2,}")
# A cheap necessary condition, checked first because most comments need no
# squeezing and the full pattern costs a per-position attempt.
_ELONGATED_HINT = re.compile(r"(.)\1\1")


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
    """Display order, NFKD, delete invisibles and marks, map look-alikes, casefold, NFC."""
    if text.isascii():
        return text.casefold()  # nothing to reorder, decompose, delete or map
    # NFKD first so that marks are separate characters that can be deleted; NFC at
    # the end recomposes what legitimately needs composing (Hangul syllables).
    expanded = unicodedata.normalize("NFKD", text)
    decomposed = _delete_invisible_and_marks(expanded)
    # A bidi control is deleted and a look-alike NFKD takes apart ("⒜") expands,
    # so text whose length stayed the same through both (NFKD never shortens) has
    # neither, and most comments are spared the search for them.
    changed = len(expanded) != len(text) or len(decomposed) != len(expanded)
    if (changed or not _BEFORE_NFKD_EXPANDS) and _DISPLAY_OR_BEFORE_NFKD.search(text):
        text = resolve_bidi(text).translate(_BEFORE_NFKD)
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


def unleet_chars(text: str) -> str:
    """Map the single leet characters inside the runs of ``text`` that contain a letter."""
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


def _touches_letter(text: str, start: int, end: int) -> bool:
    return (start > 0 and text[start - 1] in _ASCII_LETTERS) or (
        end < len(text) and text[end] in _ASCII_LETTERS
    )


def unleet_sequences(text: str) -> str:
    """Map the letters drawn with symbols (:data:`LEET_SEQUENCES`) inside words."""
    if _SEQUENCE_HINT.search(text) is None:
        return text
    first = _SEQUENCE.search(text)
    if first is not None:
        pieces: list[str] = []
        done = 0
        chain: list[re.Match[str]] = []
        # A chain is a row of sequences side by side; it is mapped as a whole
        # when a letter touches it on either side ("d|_||\/|b" is "dumb").
        for match in _SEQUENCE.finditer(text, first.start()):
            if chain and match.start() != chain[-1].end():
                done = _emit_chain(text, chain, pieces, done)
                chain = []
            chain.append(match)
        done = _emit_chain(text, chain, pieces, done)
        pieces.append(text[done:])
        text = "".join(pieces)
    for char in _BETWEEN_LETTERS:
        if char in text:
            text = _map_between_letters(text, char)
    return text


def _map_between_letters(text: str, char: str) -> str:
    pieces: list[str] = []
    done = 0
    at = text.find(char, 1)
    while at >= 0:
        if text[at - 1] in _ASCII_LETTERS and text[at + 1 : at + 2] in _ASCII_LETTERS:
            pieces.append(text[done:at])
            pieces.append(LEET_SEQUENCES[char])
            done = at + 1
        at = text.find(char, at + 1)
    return "".join(pieces) + text[done:] if pieces else text


def _emit_chain(text: str, chain: list[re.Match[str]], pieces: list[str], done: int) -> int:
    start, end = chain[0].start(), chain[-1].end()
    if not _touches_letter(text, start, end):
        return done
    pieces.append(text[done:start])
    pieces.extend(_SEQUENCES[match.group()] for match in chain)
    return end


def unleet(text: str) -> str:
    """Map leetspeak inside the words of ``text``: sequences of symbols, then characters."""
    return unleet_chars(unleet_sequences(text))


def _ascii_words(text: str) -> bool:
    """Whether every letter and digit of ``text`` is ASCII."""
    # A non-ASCII word character is alphanumeric ("_" is ASCII); comments hold few
    # non-ASCII characters, and a letter among them ends the loop.
    return text.isascii() or not any(
        char.isalnum() for run in _NON_ASCII.findall(text) for char in run
    )


def _spaced_groups(
    padded: str, single: re.Pattern[str], origin: int
) -> list[list[tuple[int, int]]]:
    """The groups of single characters in ``padded`` (" " + text) from ``origin`` on.

    Each group is a list of (start, end) of its characters in text.
    """
    groups: list[list[tuple[int, int]]] = []
    group: list[tuple[int, int]] = []
    closed = False  # the last character had a "!" or "+" after it
    for match in single.finditer(padded, origin):
        # The character is one after the separator in " " + text, so at
        # match.start() in text.
        start = match.start()
        if group and (closed or start - group[-1][1] > _MAX_GAP):
            if len(group) >= _MIN_SPACED:
                groups.append(group)
            group = []
        group.append((start, start + 1))
        closed = bool(match.group(2))
    if len(group) >= _MIN_SPACED:
        groups.append(group)
    return groups


def spaced_forms(text: str) -> list[str]:
    """The readings of ``text`` with its spaced-out words joined (see the module docstring).

    The first is every group of spaced-out characters joined whole; then, where a
    group begins and/or ends with a one-letter word, the readings with that word
    left standing. Without spaced-out words, just ``[text]``.
    """
    padded = " " + text
    ascii_words = _ascii_words(text)
    pair = (_ASCII_SPACED_HINT if ascii_words else _SPACED_HINT).search(padded)
    if pair is None:
        return [text]
    # No group starts before the first two single characters close together.
    groups = _spaced_groups(padded, _ASCII_SINGLE if ascii_words else _SINGLE, pair.start())
    if not groups:
        return [text]
    readings: dict[str, None] = {}
    for peel_first, peel_last in ((False, False), (True, False), (False, True), (True, True)):
        pieces: list[str] = []
        done = 0
        for group in groups:
            low, high = 0, len(group)
            first = peel_first and text[group[0][0]] in _ONE_LETTER_WORDS
            last = peel_last and text[group[-1][0]] in _ONE_LETTER_WORDS
            if high - first - last >= _MIN_SPACED:
                low, high = int(first), high - last
            pieces.append(text[done : group[low][0]])
            pieces.extend(text[start:end] for start, end in group[low:high])
            done = group[high - 1][1]
        pieces.append(text[done:])
        readings.setdefault("".join(pieces))
    return list(readings)


def join_spaced(text: str) -> str:
    """Join spaced-out words ("i d i o t" -> "idiot"): the first of :func:`spaced_forms`."""
    return spaced_forms(text)[0]


def _squeeze(text: str) -> str:
    if not _ELONGATED_HINT.search(text):
        return text
    return _ELONGATED.sub(r"\1\1", text)


def normalize(text: str) -> str:
    """Return the canonical, evasion-resistant form of ``text``.

    Steps: display order (right-to-left overrides reversed); NFKD; delete
    invisible format characters (category Cf, e.g. U+200B, U+200D, U+2060, U+FEFF,
    U+00AD, the bidi controls) and combining marks; map look-alike letters
    (Cyrillic, Greek, Cherokee, small capitals, enclosed letters) to Latin;
    casefold; NFC; map leetspeak inside words (symbol sequences such as ``|_|``,
    then single characters in runs that contain a letter, not in plain numbers or
    numbers with a unit such as "3rd", and not a trailing ``!``/``+``); squeeze
    runs of three or more identical letters to two.

    >>> normalize("Ｙou 1d10t!!! In 1945, 3 soldiers")
    'you idiot!!! in 1945, 3 soldiers'
    """
    return _squeeze(unleet(fold(text)))
