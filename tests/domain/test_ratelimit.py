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


class FakeClock:
    """Seconds that move only when the test says (binary fractions: exact sums)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_exhausted_bucket_refills_one_token_per_one_over_rate() -> None:
    """Fails when buckets never refill, or refill at another rate."""
    clock = FakeClock()
    limiter = RateLimiter({"site": 4.0}, clock=clock)
    assert admitted(limiter, key(), 20) == 8  # the burst: two seconds' worth
    clock.now += 0.125  # half a token
    assert admitted(limiter, key(), 5) == 0
    clock.now += 0.125  # 1/rate since exhausted: exactly one token
    assert admitted(limiter, key(), 5) == 1
    clock.now += 0.5  # two more
    assert admitted(limiter, key(), 5) == 2
    with pytest.raises(TooManyRequests) as refused:
        limiter.check(key())
    assert refused.value.retry_after == 1.0  # 0.25 s to the next token, at least 1 s


def test_the_burst_is_capped_at_two_seconds_of_rate() -> None:
    """Fails when idle time piles up tokens past the burst, or the burst is not 2 × rate."""
    clock = FakeClock()
    limiter = RateLimiter({"site": 4.0}, clock=clock)
    assert admitted(limiter, key(), 20) == 8
    clock.now += 3600.0  # an hour idle refills the burst, no more
    assert admitted(limiter, key(), 100) == 8
    clock.now += 1.0  # half the burst back
    assert admitted(limiter, key(), 100) == 4


def test_over_a_window_the_rate_is_admitted() -> None:
    """Fails when buckets never refill (only the burst would pass) or refill too fast."""
    clock = FakeClock()
    limiter = RateLimiter({"site": 4.0}, clock=clock)
    assert admitted(limiter, key(), 20) == 8
    total = 0
    for _ in range(80):  # 10 s in steps of 1/8 s, three attempts a step
        clock.now += 0.125
        total += admitted(limiter, key(), 3)
    assert total == 40  # 4/s × 10 s


def test_each_process_refills_at_its_share_of_the_rate() -> None:
    """Fails when a process refills at the whole rate instead of rate / instances."""
    clock = FakeClock()
    limiter = RateLimiter({"site": 12.0}, clock=clock)
    limiter.instances = 3  # 4/s here
    assert admitted(limiter, key(), 20) == 8
    clock.now += 1.0
    assert admitted(limiter, key(), 20) == 4
    limiter.instances = 1  # the others stopped: the whole rate again
    clock.now += 0.5
    assert admitted(limiter, key(), 20) == 6


def test_a_thin_share_refills_its_one_request() -> None:
    """Fails when a thin share never refills: one request, then refusals for ever."""
    clock = FakeClock()
    limiter = RateLimiter({"site": 1.0}, clock=clock)
    limiter.instances = 4  # 0.25/s: a token every 4 s
    assert admitted(limiter, key(), 5) == 1
    clock.now += 3.5
    with pytest.raises(TooManyRequests) as refused:
        limiter.check(key())
    assert refused.value.retry_after == 1.0  # 0.5 s left, rounded up to a second
    clock.now += 0.5
    assert admitted(limiter, key(), 5) == 1


def test_a_site_key_on_the_default_keeps_1000_per_second_in_each_process() -> None:
    """The contract: by default a site key is never throttled below 1,000 requests/s, also
    when all its requests reach one of many processes (the default 5,000/s over 8 would
    leave 625/s there). A key's own lower rate, and other roles, are shared out as before."""
    clock = FakeClock()
    limiter = RateLimiter({"site": 5000.0, "moderator": 5000.0}, clock=clock)
    limiter.instances = 8
    assert admitted(limiter, key(), 5000) == 2000  # a 2 s burst at 1,000/s
    clock.now += 1.0
    assert admitted(limiter, key(), 5000) == 1000
    assert admitted(limiter, key(Role.moderator, key_id="m"), 5000) == 1250  # 625/s
    assert admitted(limiter, key(rate_limit=4000.0, key_id="own"), 5000) == 1000  # 500/s
    limiter.instances = 2  # 2,500/s each: above the floor, the share applies
    clock.now += 10.0
    assert admitted(limiter, key(), 10000) == 5000
