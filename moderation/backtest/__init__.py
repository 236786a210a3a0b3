"""Backtesting guidelines against stored comments, and threshold suggestions.

Admins tune thresholds with evidence: :func:`backtest` re-decides stored comments
under proposed guidelines from their *stored* scores (no classifier runs) and
compares the outcome with what was decided and with what moderators decided;
:func:`suggest` proposes per-category thresholds from the moderators' history.

Pure and synchronous: the caller loads :class:`Case` rows and serialises the
result (``to_json``). Every per-case verdict equals what
:func:`moderation.domain.engine.decide` would return for the case.

* :mod:`.frame`: the cases as columns and deciding them all at once under a
  policy (:func:`decide_many`); why it is fast is in its docstring.
* :mod:`.compare`: :func:`backtest`, the comparisons and the samples.
* :mod:`.results`: :class:`BacktestResult`, :class:`ModeratorAgreement`,
  :class:`Sample` and their JSON.
* :mod:`.suggestions`: :func:`suggest` and :class:`Suggestion`.

The term and link checks for many texts at once live with the matchers, in
:mod:`moderation.textmatch.prefilter`. ``bench/backtest_bench.py`` measures it all.
"""

from __future__ import annotations

from moderation.backtest.compare import backtest
from moderation.backtest.frame import decide_many
from moderation.backtest.results import BacktestResult, ModeratorAgreement, Sample
from moderation.backtest.suggestions import Suggestion, suggest
from moderation.domain.records import Case

__all__ = [
    "BacktestResult",
    "Case",
    "ModeratorAgreement",
    "Sample",
    "Suggestion",
    "backtest",
    "decide_many",
    "suggest",
]
