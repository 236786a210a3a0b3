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
from moderation.textmatch.normalization import LEET_SYMBOLS, LEETSPEAK, LOOKALIKES
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
    char = chr(code)
    if char.isalpha():
        return
    assert normalize(f"z{char}q") == f"z{LEETSPEAK.get(char, char)}q"


def test_leet_symbols_are_the_tables_non_alphanumeric_characters() -> None:
    assert set(LEET_SYMBOLS) == {char for char in LEETSPEAK if not char.isalnum()}
    # The needles of terms break at exactly those symbols.
    assert {ord(char): " " for char in LEET_SYMBOLS} == prefilter._LEET_SYMBOLS_TO_SPACE


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
