"""Counterfactual copies of training comments: the same comment about another group.

A head that has seen "Muslims" and "Jews" mostly in abuse learns the words, not what is
said about the people they name, and then holds a friendly sentence about them (the
service's identity-term audit shows it). Training on copies of each comment that names
one group, with that group swapped for others and the labels kept, asks the heads for
the same answer whichever group a sentence is about: an attack stays an attack, a
friendly sentence stays friendly (counterfactual data augmentation, as in Garg et al.,
"Counterfactual Fairness in Text Classification through Robustness", 2019).

Only plural nouns that name a nationality, religion or ethnicity are swapped, whole
words with their capital, and only in comments that name exactly one of them (a comment
that sets two groups against each other would lose its sense). The copies never decide
anything about themselves: they join the folds of the comment they came from, are never
scored out of fold, and the thresholds are chosen on the original comments only.

This list is the training's, not the audit's (``moderation/domain/identity_audit.py``):
the audit measures groups the augmentation need not name, and names groups it does
not swap (genders, ages), so passing the audit is not a matter of listing its words.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

#: Plural nouns naming groups of people by nationality, religion or ethnicity.
GROUPS: tuple[str, ...] = (
    "Afghans",
    "Albanians",
    "Americans",
    "Arabs",
    "Buddhists",
    "Catholics",
    "Christians",
    "Eritreans",
    "Germans",
    "Hindus",
    "Indians",
    "Iranians",
    "Iraqis",
    "Israelis",
    "Jews",
    "Kurds",
    "Lithuanians",
    "Mexicans",
    "Muslims",
    "Nigerians",
    "Pakistanis",
    "Palestinians",
    "Poles",
    "Romanians",
    "Russians",
    "Sikhs",
    "Somalis",
    "Syrians",
    "Turks",
    "Ukrainians",
)

#: Copies made of each comment that names one group.
COPIES = 2

_PATTERN = re.compile(r"\b(" + "|".join(GROUPS) + r")\b")


def named_group(text: str) -> str | None:
    """The one group of :data:`GROUPS` that ``text`` names (any number of times), or
    None when it names none or several."""
    found = set(_PATTERN.findall(text))
    return found.pop() if len(found) == 1 else None


def copies(texts: Sequence[str], seed: int, count: int = COPIES) -> list[tuple[int, str]]:
    """``(index of the source text, copy)`` for every text that names one group:
    ``count`` copies, each with another group (chosen by a generator seeded with
    ``seed``, so the same texts always give the same copies)."""
    rng = random.Random(seed)
    out: list[tuple[int, str]] = []
    for index, text in enumerate(texts):
        group = named_group(text)
        if group is None:
            continue
        others = [g for g in GROUPS if g != group]
        for other in rng.sample(others, count):
            out.append((index, re.sub(rf"\b{group}\b", other, text)))
    return out
