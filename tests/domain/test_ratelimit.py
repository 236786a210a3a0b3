"""Token buckets per key: the key's own rate or its role's, shared out between processes."""

from __future__ import annotations

import pytest

from moderation.domain.errors import TooManyRequests
from moderation.domain.models import ApiKey, Role, utcnow
from moderation.domain.ratelimit import RateLimiter


def key(role: Role = Role.site, rate_limit: float | None = None, key_id: str = "k") -> ApiKey:
    return ApiKey(id=key_id, name=key_id, role=role, created_at=utcnow(), rate_limit=rate_limit)


def admitted(limiter: RateLimiter, api_key: ApiKey, attempts: int) -> int:
    count = 0
    for _ in range(attempts):
        try:
            limiter.check(api_key)
        except TooManyRequests:
            continue
        count += 1
    return count


def test_role_default_with_a_two_second_burst() -> None:
    limiter = RateLimiter({"site": 5.0, "moderator": 0.0})
    assert admitted(limiter, key(), 50) == 10
    assert admitted(limiter, key(Role.moderator), 50) == 50  # 0: unlimited


def test_a_key_of_its_own_overrides_the_role() -> None:
    limiter = RateLimiter({"site": 1000.0})
    assert admitted(limiter, key(rate_limit=2.0, key_id="slow"), 50) == 4
    assert admitted(limiter, key(rate_limit=0.0, key_id="free"), 500) == 500
    assert limiter.rate_of(key(rate_limit=2.0)) == 2.0
    assert limiter.rate_of(key()) == 1000.0


def test_the_rate_is_divided_between_live_processes() -> None:
    limiter = RateLimiter({"site": 30.0})
    limiter.instances = 3
    assert admitted(limiter, key(), 200) == 20  # 10/s here, 2 s of burst
    limiter.instances = 0  # never below one
    assert limiter.instances == 1


def test_a_thin_share_still_admits_whole_requests() -> None:
    limiter = RateLimiter({"site": 1.0})
    limiter.instances = 4  # 0.25/s each: the burst is still one request
    assert admitted(limiter, key(), 10) == 1
    with pytest.raises(TooManyRequests) as refused:
        limiter.check(key())
    assert refused.value.retry_after is not None and refused.value.retry_after >= 1
