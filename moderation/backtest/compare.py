""":func:`backtest`: proposed decisions against the stored, current and moderators' ones.

The cases are re-decided column-wise (:mod:`.frame`); only the few changed cases
sampled for the answer go through the engine itself, for their reasons.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from moderation.backtest.frame import ACTIONS, APPROVE, HOLD, REJECT, Bools, Frame, Int8s
from moderation.backtest.results import BacktestResult, ModeratorAgreement, Sample
from moderation.domain.engine import Context, Policy, decide
from moderation.domain.records import Case

__all__ = ["backtest"]

# Changed cases are sampled round-robin over these transitions, most consequential
# first, so a handful of samples shows every kind of change there is.
_TRANSITIONS: tuple[tuple[int, int], ...] = (
    (APPROVE, REJECT),
    (REJECT, APPROVE),
    (APPROVE, HOLD),
    (HOLD, APPROVE),
    (HOLD, REJECT),
    (REJECT, HOLD),
)


def backtest(
    proposed: Policy,
    cases: Iterable[Case],
    *,
    current: Policy | None = None,
    samples: int = 20,
) -> BacktestResult:
    """Re-decide ``cases`` under ``proposed`` and compare with the stored decisions.

    Each case gets exactly the action :func:`moderation.domain.engine.decide` would give
    it, computed from its stored scores (no classifier runs). The result holds the
    stored -> proposed matrix, up to ``samples`` changed cases spread over the kinds
    of change (with the proposed reasons), and the agreement of the proposed and
    the stored decisions with the moderators' decisions. With ``current``, both
    policies are re-decided and the current -> proposed matrix is added, which
    separates the effect of the proposal from earlier guideline changes.
    """
    items = cases if isinstance(cases, list | tuple) else list(cases)
    frame = Frame(items, [proposed] if current is None else [proposed, current])
    after = frame.decide(proposed)
    stored = frame.stored
    matrix = _pair_counts(stored, after)
    moderated = frame.moderator >= 0
    current_matrix: tuple[int, ...] | None = None
    current_vs: ModeratorAgreement | None = None
    if current is not None:
        before = frame.decide(current)
        current_matrix = _pair_counts(before, after)
        current_vs = _agreement(frame.moderator, before, moderated)
    return BacktestResult(
        total=len(items),
        matrix=matrix,
        samples=_samples(proposed, items, stored, after, max(samples, 0), current),
        evidence=int(np.count_nonzero(moderated)),
        proposed_vs_moderators=_agreement(frame.moderator, after, moderated),
        stored_vs_moderators=_agreement(frame.moderator, stored, moderated),
        current_matrix=current_matrix,
        current_vs_moderators=current_vs,
    )


def _pair_counts(before: Int8s, after: Int8s) -> tuple[int, ...]:
    pairs = before.astype(np.intp) * 3 + after
    return tuple(int(n) for n in np.bincount(pairs, minlength=9))


def _agreement(moderator: Int8s, decided: Int8s, moderated: Bools) -> ModeratorAgreement:
    counts = np.bincount(moderator[moderated].astype(np.intp) * 3 + decided[moderated], minlength=9)
    approve = (int(counts[0]), int(counts[1]), int(counts[2]))
    reject = (int(counts[6]), int(counts[7]), int(counts[8]))
    return ModeratorAgreement(table=(approve, reject))


def _samples(
    policy: Policy,
    items: Sequence[Case],
    stored: Int8s,
    after: Int8s,
    wanted: int,
    current: Policy | None = None,
) -> tuple[Sample, ...]:
    if wanted == 0:
        return ()
    queues: list[list[int]] = []
    for source, target in _TRANSITIONS:
        found = np.flatnonzero((stored == source) & (after == target))
        if found.size > wanted:
            # Evenly spaced within a transition, so the samples span the period
            # (and the kinds of comment) instead of its first few rows.
            found = found[np.linspace(0, found.size - 1, wanted).round().astype(np.intp)]
        queues.append([int(i) for i in found])
    chosen: list[int] = []
    depth = 0
    while len(chosen) < wanted and any(depth < len(q) for q in queues):
        chosen.extend(q[depth] for q in queues if depth < len(q))
        depth += 1
    result: list[Sample] = []
    for index in chosen[:wanted]:
        case = items[index]
        # Reasons come from the engine itself: only a handful of cases need them.
        context = Context(case.article_mode, case.article_tags, case.author_status)
        verdict = decide(policy, case.text or "", case.scores, case.classifier, context)
        # What the guidelines in force find, so a change to approve names the rule too.
        now = (
            ()
            if current is None
            else decide(current, case.text or "", case.scores, case.classifier, context).reasons
        )
        result.append(
            Sample(
                comment_id=case.comment_id,
                before=ACTIONS[int(stored[index])],
                after=ACTIONS[int(after[index])],
                reasons=verdict.reasons,
                scores=case.scores,
                classifier=case.classifier,
                created_at=case.created_at,
                current_reasons=now,
            )
        )
    return tuple(result)
