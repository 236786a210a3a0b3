"""Counterfactual copies of training comments: the same comment about another group;
and the directions in which the sentence encoder tells the groups apart.

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

Copies alone left the heads reading the words (trained with them, the heads still
scored "Muslims are our neighbours." 0.77 on ``identity_attack``): two copies per
comment do not outweigh the many attacks on some groups the comments hold. So training
also removes the **group subspace** (:func:`group_subspace`): every comment that names
one group is embedded about every group, and the leading directions in which those
versions differ are projected out of every embedding before the heads learn (a linear
projection, folded into the heads' weights, so the service computes nothing more). The
heads still see that a sentence is about a group of people, and what it says about them;
they see much less of which group it is (not nothing: the rest of the variance stays,
docs/classifiers.md). After Ravfogel et al., "Null It Out", 2020, with the directions
taken from counterfactual versions rather than learnt by a classifier.

This list is the training's, not the audit's (``moderation/domain/identity_audit.py``):
the audit measures groups the augmentation need not name, and names groups it does
not swap (genders, ages), so passing the audit is not a matter of listing its words.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy
import numpy.typing as npt

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


def _about(text: str, group: str, other: str) -> str:
    """``text`` (which names ``group``) about ``other``: every whole-word mention swapped."""
    return re.sub(rf"\b{group}\b", other, text)


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
            out.append((index, _about(text, group, other)))
    return out


def versions(text: str) -> list[str] | None:
    """``text`` about every group of :data:`GROUPS` in turn (its own included, in the
    order of :data:`GROUPS`), or None when it does not name exactly one group."""
    group = named_group(text)
    if group is None:
        return None
    return [_about(text, group, other) for other in GROUPS]


@dataclass(frozen=True, slots=True)
class GroupSubspace:
    """Orthonormal directions in which versions of one comment about different groups
    differ, most of that variance first."""

    #: ``(components, dimension)``, orthonormal rows.
    directions: npt.NDArray[numpy.float64]
    #: Share of the versions' variance around their comment's mean that the directions
    #: hold (0 when there were no versions).
    variance_share: float
    #: Comments whose versions defined it.
    comments: int

    def project(self, embeddings: npt.NDArray[numpy.floating]) -> npt.NDArray[numpy.float64]:
        """``embeddings`` (``(n, dimension)``) without their component in the subspace."""
        x = embeddings.astype(numpy.float64)
        if not len(self.directions):
            return x
        projected: npt.NDArray[numpy.float64] = x - (x @ self.directions.T) @ self.directions
        return projected

    def fold(self, weights: npt.NDArray[numpy.float64]) -> npt.NDArray[numpy.float64]:
        """Weights over projected embeddings (``(..., dimension)``) as weights over raw
        ones: ``project(x) @ w == x @ fold(w)``, since the projection is symmetric."""
        return self.project(weights)


def group_subspace(embeddings: npt.NDArray[numpy.floating], components: int) -> GroupSubspace:
    """The ``components`` leading directions of ``embeddings`` (``(comments, groups,
    dimension)``: each comment's :func:`versions`, embedded) around each comment's own
    mean, by singular value decomposition (deterministic; a direction's sign does not
    matter to the projection)."""
    comments, _, dimension = embeddings.shape
    if comments == 0 or components <= 0:
        return GroupSubspace(numpy.zeros((0, dimension)), 0.0, comments)
    x = embeddings.astype(numpy.float64)
    residuals = (x - x.mean(axis=1, keepdims=True)).reshape(-1, dimension)
    _, singular, vt = numpy.linalg.svd(residuals, full_matrices=False)
    variance = singular**2
    total = float(variance.sum())
    kept = min(components, int((singular > singular[0] * 1e-9).sum()) if total else 0)
    share = float(variance[:kept].sum() / total) if total else 0.0
    return GroupSubspace(vt[:kept].copy(), share, comments)
