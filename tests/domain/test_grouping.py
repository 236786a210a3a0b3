"""Near-identical comments (``moderation/domain/grouping.py``)."""

from __future__ import annotations

import time

from moderation.domain.grouping import MAX_WORDS, duplicate_keys

CAMPAIGN = "Vote NO on measure 12, the corrupt council wants your money and your homes!"


def test_normalised_copies_share_every_key() -> None:
    variants = [
        CAMPAIGN,
        "vote no on measure 12 -- the CORRUPT council wants your money and your homes",
        "Vote  NO on measure 12, the c0rrupt council wants your money and your h0mes!!!",
    ]
    assert len({duplicate_keys(v) for v in variants}) == 1


def test_a_reworded_copy_shares_a_band_and_an_unrelated_text_nothing() -> None:
    edited = CAMPAIGN.replace("homes", "houses")
    assert duplicate_keys(edited)[0] != duplicate_keys(CAMPAIGN)[0]  # not the same words
    assert set(duplicate_keys(edited)) & set(duplicate_keys(CAMPAIGN))
    other = "I enjoyed the article about gardening and tomatoes in the spring sunshine."
    assert not set(duplicate_keys(other)) & set(duplicate_keys(CAMPAIGN))


def test_short_and_empty_texts() -> None:
    assert duplicate_keys(None) == () and duplicate_keys("") == () and duplicate_keys("!!") == ()
    assert len(duplicate_keys("you idiot")) == 1  # no shingles, the exact key only
    assert duplicate_keys("You  IDIOT!") == duplicate_keys("you idiot")


def test_only_the_first_words_count_and_time_stays_linear() -> None:
    head = " ".join(f"w{i}" for i in range(MAX_WORDS))
    assert duplicate_keys(head + " tail one") == duplicate_keys(head + " other tail")
    started = time.perf_counter()
    duplicate_keys("spam " * 20_000)
    duplicate_keys("a" * 20_000)
    # Generous: a super-linear pass over 100,000 characters would take far longer.
    assert time.perf_counter() - started < 2.0
