"""Per-key token buckets, shared out between the service's processes.

Each key gets ``rate`` requests per second with a burst of two seconds' worth. The
rate is the key's own (``ApiKey.rate_limit``, set when it is created) or else its
role's default from settings; 0 means unlimited. The site role's default (5,000
requests/s, ``MODERATION_RATE_LIMIT_SITE``) keeps a site key above the contract's
1,000 requests/s, since one site key carries a whole website; there is no floor below
that, so an admin can give one key a lower ``rate_limit`` on purpose.

With N processes behind a load balancer, each process allows ``rate / N``: the load
balancer spreads a key's requests over the processes, so together they allow about
``rate``. A site key on its role's default keeps :data:`SITE_FLOOR` in each process
even so: a website's requests may all reach one process (one keep-alive connection, or
``SO_REUSEPORT`` handing its connections to one), and the contract promises that a site
key is by default never throttled below 1,000 requests/s. N is the number of live
processes on the shared database (:mod:`moderation.workers.heartbeat`), refreshed every
few seconds. Buckets stay in memory —
a database write per request would cost more than the limit protects — so the limit
is exact per process and approximate across them, and assumes requests are spread
(round robin or least connections, not sticky per key). See docs/deploy.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from moderation.domain.errors import TooManyRequests
from moderation.domain.models import ApiKey, Role

SITE_FLOOR = 1000.0
"""Requests per second a site key on its role's default gets in every process, however
many share the rate (when that default is at least this much)."""


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(
        self, rates: dict[str, float], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rates = rates
        self._clock = clock  # seconds; tests pass a fake one
        self._buckets: dict[str, _Bucket] = {}
        self._instances = 1

    @property
    def instances(self) -> int:
        """How many processes share each key's rate (1 until the registry says more)."""
        return self._instances

    @instances.setter
    def instances(self, count: int) -> None:
        self._instances = max(1, count)

    def rate_of(self, key: ApiKey) -> float:
        """The key's limit in requests per second across all processes (0: none)."""
        if key.rate_limit is not None:
            return key.rate_limit
        return self._rates.get(key.role.name, 0.0)

    def check(self, key: ApiKey) -> None:
        """Take one token for ``key`` or raise :class:`TooManyRequests`."""
        total = self.rate_of(key)
        if total <= 0:
            return
        rate = total / self._instances
        if key.rate_limit is None and key.role is Role.site and total >= SITE_FLOOR:
            rate = max(rate, SITE_FLOOR)
        # At least one whole request, so a slow limit spread thin still admits some.
        burst = max(1.0, rate * 2)
        now = self._clock()
        bucket = self._buckets.get(key.id)
        if bucket is None:
            bucket = self._buckets[key.id] = _Bucket(tokens=burst, updated=now)
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
