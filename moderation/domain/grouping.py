"""Near-identical comments (copy-paste campaigns): keys that two copies share.

:func:`duplicate_keys` gives a comment's text a few short keys: one for its normalised
words (copies that differ only in case, spacing, punctuation, look-alike letters or
leetspeak share it) and four MinHash band keys of four rows over its word 3-shingles:
copies with shingle sets of Jaccard similarity s share a band with probability
1 - (1 - s⁴)⁴ — 0.99 at s = 0.9, 0.67 at 0.7, 0.23 at 0.5, 0.03 at 0.3. Comments that
share a key (transitively) form a group, which a moderator can decide at once; the
moderators' page groups its batch by these keys (``static/ui/queue.js``).

Everything is linear in the text: one normalisation pass, one hash per shingle and a
fixed number of multiply-mods per shingle; only the first :data:`MAX_WORDS` words count,
so a long text costs no more than a short campaign comment.
"""

from __future__ import annotations

import hashlib
import re

from moderation.textmatch import normalize

MAX_WORDS = 400
SHINGLE = 3
BANDS = 4
ROWS = 4
_PRIME = (1 << 61) - 1
# Fixed coefficients (a, b) of the hash functions: keys must be stable across processes.
_COEFFICIENTS = tuple(
    (
        int.from_bytes(hashlib.blake2b(b"a%d" % i, digest_size=8).digest()) % _PRIME | 1,
        int.from_bytes(hashlib.blake2b(b"b%d" % i, digest_size=8).digest()) % _PRIME,
    )
    for i in range(BANDS * ROWS)
)
_WORD = re.compile(r"\w+")


def _hash(data: str) -> int:
    return int.from_bytes(hashlib.blake2b(data.encode(), digest_size=8).digest())


def duplicate_keys(text: str | None) -> tuple[str, ...]:
    """The keys of ``text`` (none for an erased or wordless text)."""
    if not text:
        return ()
    words = _WORD.findall(normalize(text))[:MAX_WORDS]
    if not words:
        return ()
    exact = hashlib.blake2b(" ".join(words).encode(), digest_size=8).hexdigest()
    if len(words) < SHINGLE + 2:
        # Too short for shingles to tell copies from chance: the exact key alone.
        return (f"t{exact}",)
    shingles = {_hash(" ".join(words[i : i + SHINGLE])) for i in range(len(words) - SHINGLE + 1)}
    minima = [min((a * s + b) % _PRIME for s in shingles) for a, b in _COEFFICIENTS]
    bands = (
        hashlib.blake2b(
            b"%d:" % band + b",".join(b"%d" % m for m in minima[band * ROWS : (band + 1) * ROWS]),
            digest_size=8,
        ).hexdigest()
        for band in range(BANDS)
    )
    return (f"t{exact}", *(f"b{i}{key}" for i, key in enumerate(bands)))
