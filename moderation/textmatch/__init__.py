"""Evasion-resistant matching of guideline terms and links in comment text.

The community guidelines say: *terms match whole words, case-insensitively, after
Unicode normalisation that defeats zero-width characters, look-alike letters and
simple leetspeak*; comments with links are held for review. This package is the
implementation of that sentence. Every table and regular expression is built
once, at import or at :class:`TermMatcher` construction, because ``find`` and
``find_links`` run for every comment. The rules chosen where the contract leaves
them to us are documented in the module that applies them:

* :mod:`.normalization`: display order (right-to-left overrides), Unicode
  normalisation, look-alike letters (enclosed letters and Cherokee included),
  leetspeak (symbol sequences such as ``|_|`` included), spaced-out words and
  elongation; :func:`normalize`. Its look-alike and leetspeak tables are the only
  ones in the package; the others derive from them.
* :mod:`.terms`: :class:`TermMatcher`, whole-word term matching; a term's regular
  English plural ("-s", "-es") counts as the term.
* :mod:`.links`: :func:`find_links`.
* :mod:`.prefilter`: ``TextBatch``, the same answers as ``TermMatcher.find`` and
  ``find_links`` for many texts at once, asking them only about the texts a
  sound prefilter keeps (the backtest uses it). It needs numpy, so it is not
  imported here: the rest of the package, which every comment goes through, is
  pure standard library.
"""

from __future__ import annotations

from moderation.textmatch.links import find_links
from moderation.textmatch.normalization import normalize
from moderation.textmatch.terms import TermMatcher

__all__ = ["TermMatcher", "find_links", "normalize"]
