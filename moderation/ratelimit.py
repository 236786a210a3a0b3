"""Per-key token buckets (in-process).

Each key gets ``rate`` requests per second with a burst of two seconds' worth.
Defaults come from settings per role; a site key is never throttled below
1,000 requests/s by default (one site key carries a whole website).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from moderation.errors import TooManyRequests


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, rates: dict[str, float]) -> None:
        self._rates = rates
        self._buckets: dict[str, _Bucket] = {}

    def check(self, key_id: str, role: str) -> None:
        """Take one token for ``key_id`` or raise :class:`TooManyRequests`."""
        rate = self._rates.get(role, 0.0)
        if rate <= 0:
            return
        burst = rate * 2
        now = time.monotonic()
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = _Bucket(tokens=burst, updated=now)
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens < 1:
            wait = (1 - bucket.tokens) / rate
            raise TooManyRequests(
                "rate limit exceeded for this key",
                code="rate_limited",
                retry_after=max(1.0, round(wait, 1)),
            )
        bucket.tokens -= 1
