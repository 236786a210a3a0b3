"""The prefilter (moderation.textmatch.prefilter): same tables as the normaliser, same answers.

The prefilter drops texts without asking the matchers, so it is only right while it
reads text as the matchers do. The first tests fail as soon as its tables and the
normaliser's tables (look-alikes, leetspeak) disagree; the others check its answers
against ``TermMatcher.find`` and ``find_links`` text by text, on texts full of the
evasions those tables exist for.
"""

from __future__ import annotations

import random

import pytest

from moderation.textmatch import TermMatcher, find_links, normalize, prefilter
from moderation.textmatch.normalization import (
    LEET_SEQUENCES,
    LEET_SYMBOLS,
    LEETSPEAK,
    LOOKALIKES,
)
from moderation.textmatch.prefilter import TextBatch


def canonical(char: str) -> bytes:
    """What the prefilter makes of ``char`` inside a text (before squeezing runs)."""
    if not char.isascii():
        char = prefilter._CharFold()[ord(char)]
    return char.encode("ascii").translate(prefilter._CANON_TABLE, prefilter._CANON_DELETE)


# ------------------------------------------------------------------------ one set of tables


@pytest.mark.parametrize("code", range(128))
def test_the_canonical_form_keeps_letters_and_maps_exactly_the_leetspeak_table(code: int) -> None:
    char = chr(code)
    if char.isalpha():
        expected = char.lower()
    elif char in LEETSPEAK:
        expected = LEETSPEAK[char]
    elif char == "\x00":  # the separator between texts
        expected = char
    else:
        expected = ""  # neither a word nor a leet character: the matcher skips it too
    assert canonical(char) == expected.encode("ascii")


@pytest.mark.parametrize("code", range(0x20, 0x7F))
def test_the_normaliser_maps_exactly_the_leetspeak_table(code: int) -> None:
    # The normaliser's patterns are derived from the table; this catches a pattern
    # that maps a character the table lacks, or misses one it lists.
    # A one-character symbol sequence ("(" for "c") is a letter between letters too.
    char = chr(code)
    if char.isalpha():
        return
    assert normalize(f"z{char}q") == f"z{LEETSPEAK.get(char) or LEET_SEQUENCES.get(char, char)}q"


def test_leet_symbols_are_the_tables_non_alphanumeric_characters() -> None:
    assert set(LEET_SYMBOLS) == {char for char in LEETSPEAK if not char.isalnum()}
    # The needles of terms break at exactly those symbols and the punctuation of the
    # symbol sequences.
    breaks = set(LEET_SYMBOLS) | {c for seq in LEET_SEQUENCES for c in seq if not c.isalnum()}
    assert {ord(char): " " for char in breaks} == prefilter._NEEDLE_BREAKS_TO_SPACE


@pytest.mark.parametrize("char", sorted(LOOKALIKES), ids=lambda char: f"U+{ord(char):04X}")
def test_every_lookalike_reads_as_its_latin_letter_in_the_prefilter(char: str) -> None:
    latin = LOOKALIKES[char].casefold()
    assert normalize(char) == latin
    assert canonical(char) == latin.encode("ascii")
    # find_links maps it to that letter, so the link prefilter must not treat it as
    # an inert "?" either.
    assert not prefilter._link_inert(char)


def test_every_character_the_normaliser_maps_is_known_to_the_prefilter() -> None:
    mapped = {**LOOKALIKES, **LEETSPEAK}
    unknown = {
        char: latin
        for char, latin in mapped.items()
        if canonical(char) != latin.casefold().encode("ascii")
    }
    assert not unknown


# ---------------------------------------------------------------------------- same answers

TERMS = ("idiot", "scum", "white power", "ass", "4chan", "vermin", "go home", "clown")
PROSE = "the a of to and is was war army vote people really think idiotic scumbag dot com"
LINKS = ("example.com", "www.x.io", "http://a", "foo [dot] org", "bit.ly/x", "x . net", "t.me")
INVISIBLE = ("\u200b", "\u00ad", "\u2060", "\ufeff")
DISGUISES: dict[str, list[str]] = {}
for _source, _latin in {**LOOKALIKES, **LEETSPEAK}.items():
    DISGUISES.setdefault(_latin.casefold(), []).append(_source)


def disguised(rng: random.Random, phrase: str) -> str:
    out: list[str] = []
    for char in phrase:
        roll = rng.random()
        if roll < 0.3 and char in DISGUISES:
            char = rng.choice(DISGUISES[char])
        elif roll < 0.4:
            char = char.upper()
        elif roll < 0.45:
            char *= 3
        out.append(char)
        if rng.random() < 0.05:
            out.append(rng.choice(INVISIBLE))
    text = "".join(out)
    if rng.random() < 0.1 and " " not in phrase:
        text = rng.choice(" .-").join(text)  # spaced out
    return text


def random_text(rng: random.Random) -> str | None:
    if rng.random() < 0.03:
        return None
    pieces = [rng.choice(PROSE.split()) for _ in range(rng.randint(0, 12))]
    for _ in range(rng.randint(0, 2)):
        phrase = rng.choice(TERMS + LINKS)
        pieces.insert(rng.randint(0, len(pieces)), disguised(rng, phrase))
    if rng.random() < 0.1:
        pieces.append(rng.choice(["\x00", "“x”", "😀", "é", "。", "45s", "$$$", "!!", "+"]))
    return rng.choice([" ", " ", ".", ", ", ""]).join(pieces)


@pytest.mark.parametrize("chunk", [50_000, 7])
@pytest.mark.parametrize("seed", range(4))
def test_same_answers_as_the_matchers(
    seed: int, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prefilter, "_CHUNK", chunk)
    rng = random.Random(seed)
    texts = [random_text(rng) for _ in range(1500)]
    lists = [TERMS[: 1 + seed], TERMS, ("!!!",), ()]  # "!!!" has no needle: every text is asked
    batch = TextBatch(texts)
    masks = batch.term_masks([(terms, TermMatcher(terms)) for terms in lists])
    for terms, mask in zip(lists, masks, strict=True):
        matcher = TermMatcher(terms)
        assert mask.tolist() == [bool(text and matcher.find(text)) for text in texts]
    assert batch.link_mask().tolist() == [bool(text and find_links(text)) for text in texts]
    # Asked again (kept answers), the same.
    again = batch.term_masks([(TERMS, TermMatcher(TERMS))])[0]
    assert again.tolist() == masks[1].tolist()


def test_no_texts() -> None:
    batch = TextBatch([])
    assert len(batch) == 0
    assert batch.link_mask().size == 0
    assert [mask.size for mask in batch.term_masks([(TERMS, TermMatcher(TERMS))])] == [0]


# ------------------------------------------- the disguises the normaliser learnt later

LATER_TERMS = ("scumbag", "idiot", "vermin", "moron", "white power", "bitch", "kike")
PLAIN_PROSE = "the war was terrible and people really think this report lied again today"
SEQUENCES_FOR: dict[str, list[str]] = {}
for _sequence, _letter in LEET_SEQUENCES.items():
    SEQUENCES_FOR.setdefault(_letter, []).append(_sequence)
ENCLOSED_BLOCKS = (0x249C, 0x24D0, 0x24B6, 0x1F150, 0x1F170, 0x1F1E6)
CHEROKEE_FOR: dict[str, list[str]] = {}
for _source, _latin in LOOKALIKES.items():
    if "\u13a0" <= _source <= "\u13ff" or "\uab70" <= _source <= "\uabbf":
        CHEROKEE_FOR.setdefault(_latin, []).append(_source)


def spaced(rng: random.Random, word: str, *, alone: bool = True) -> str:
    gaps = [" ", "  ", ".", " . ", "-", ". ", "_", "*", " - "]
    text = word[0] + "".join(rng.choice(gaps) + char for char in word[1:])
    if not alone:  # one word of several: "white a power" is not "white power"
        return text
    if rng.random() < 0.5:
        text = rng.choice(["a ", "i ", "u "]) + text  # a one-letter word in front
    if rng.random() < 0.3:
        text += rng.choice([" i", " u", " a"])  # and one after
    return text


def overridden(rng: random.Random, word: str) -> str:
    text = "\u202e" + word[::-1] + rng.choice(["\u202c", "\u202c\n"])
    return "\u2067" + text + "\u2069" if rng.random() < 0.3 else text


def sequenced(rng: random.Random, word: str) -> str:
    out = list(word)
    for index, char in enumerate(word):
        if char not in SEQUENCES_FOR or rng.random() < 0.3:
            continue
        options = [seq for seq in SEQUENCES_FOR[char] if len(seq) > 1]
        plain = 0 < index < len(word) - 1 and out[index - 1].isalpha()
        if plain and word[index + 1].isalpha():
            options += [seq for seq in SEQUENCES_FOR[char] if len(seq) == 1]
        if options:
            out[index] = rng.choice(options)
    text = "".join(out)
    # Runs of two sequences for the same letter read as one longer sequence
    # ("/\\/\\" is "m", not "aa"); none of the terms has such a pair.
    return text if normalize(text) == word else word


def enclosed(rng: random.Random, word: str) -> str:
    return "".join(
        chr(rng.choice(ENCLOSED_BLOCKS) + ord(char) - ord("a")) if char.isalpha() else char
        for char in word
    )


def cherokee(rng: random.Random, word: str) -> str:
    return "".join(rng.choice(CHEROKEE_FOR.get(char, [char])) for char in word)


def plural(rng: random.Random, word: str) -> str:
    return word + ("es" if word.endswith(("s", "x", "z", "ch", "sh", "o")) else "s")


LATER_DISGUISES = (spaced, overridden, sequenced, enclosed, cherokee, plural)
NOISE = [
    "a", "I", "u", "U S A", "I a m", "a b c", "(like this)", "word(s)", "|_|", "a/\\b",
    "and/or", "\\o/", "x | 3", "<3", "שלום", "مرحبا", "\u202eمرحبا\u202c", "\u2067gab\u2069",
    "\u202eunclosed", "\u2069\u202c", "🇫🇷", "⒜", "Ꮪ", "s c u m", "g a b", "i d i o t!",
    "sc|_|m", "s(um", "scums", "idiots", "\u202etoidi", "\n", "\x1c",
]  # fmt: skip


def later_positive(rng: random.Random) -> tuple[str, str]:
    """A text with one term in one of the later disguises, and the term."""
    term = rng.choice(LATER_TERMS)
    words = term.split()
    disguise = rng.choice(LATER_DISGUISES)
    if len(words) > 1 and disguise is not plural:
        index = rng.randrange(len(words))
        words[index] = (
            spaced(rng, words[index], alone=False)
            if disguise is spaced
            else disguise(rng, words[index])
        )
        phrase = " ".join(words)
    else:
        phrase = disguise(rng, term)
    prose = PLAIN_PROSE.split()
    pieces = [rng.choice(prose) for _ in range(rng.randint(0, 8))]
    pieces.insert(rng.randint(0, len(pieces)), phrase)
    return " ".join(pieces), term


def later_noise(rng: random.Random) -> str:
    pieces = [rng.choice(PLAIN_PROSE.split() + NOISE) for _ in range(rng.randint(0, 12))]
    if rng.random() < 0.5:
        term = rng.choice(LATER_TERMS)
        pieces.insert(rng.randint(0, len(pieces)), rng.choice(LATER_DISGUISES)(rng, term))
    return rng.choice([" ", " ", ".", ", ", ""]).join(pieces)


@pytest.mark.parametrize("seed", range(4))
def test_same_answers_on_the_later_disguises(seed: int) -> None:
    rng = random.Random(seed)
    positives = [later_positive(rng) for _ in range(600)]
    texts = [text for text, _ in positives] + [later_noise(rng) for _ in range(900)]
    matcher = TermMatcher(LATER_TERMS)
    # Every disguise is seen through...
    missed = [(text, term) for text, term in positives if term not in matcher.find(text)]
    assert not missed
    # ...and the prefilter keeps every text the matcher finds something in.
    mask = TextBatch(texts).term_masks([(LATER_TERMS, matcher)])[0]
    assert mask.tolist() == [bool(matcher.find(text)) for text in texts]


@pytest.mark.parametrize("sequence", sorted(LEET_SEQUENCES), ids=repr)
def test_a_text_with_a_symbol_sequence_is_asked(sequence: str) -> None:
    # The canonical form cannot read a sequence ("|_|" would be "l", "_", "l"), so
    # the prefilter must send such texts to the matcher, whatever the table holds.
    term = f"zq{LEET_SEQUENCES[sequence]}xw"
    texts = [f"so zq{sequence}xw!", "zq xw", f"zq {sequence} xw", None]
    matcher = TermMatcher([term])
    mask = TextBatch(texts).term_masks([((term,), matcher)])[0]
    assert mask.tolist() == [True, False, False, False]


def test_a_right_to_left_override_is_read_in_display_order() -> None:
    texts = ["\u202egabmucs\u202c", "gabmucs", "\u2067gabmucs\u2069", "x \u202egab\nmucs"]
    matcher = TermMatcher(["scumbag", "bag"])
    mask = TextBatch(texts).term_masks([(("scumbag", "bag"), matcher)])[0]
    assert mask.tolist() == [True, False, False, True]
