"""The limiter's arithmetic at a window's edge, with the shared counts given as Redis returns them."""

from __future__ import annotations

import pytest
from limits import parse

from src.adapters.cache.flask_cache import Count
from src.adapters.web.limits import RateLimited, RateLimiter


def test_a_lease_is_cut_at_the_allowance_and_spent_before_asking_again():
    limiter = RateLimiter()
    [window] = limiter.windows([parse("400/minute")], "key:k")
    assert window.counter.amount == 4  # 1% of the allowance

    # Redis counted 4 more to 402: two of them are within the allowance, this request and one more.
    assert limiter.spend_leases([window]) == [window]
    limiter.enforce([window], [Count(402, 30.0)])
    assert limiter.spend_leases([window]) == []  # the one more, without asking
    assert limiter.spend_leases([window]) == [window]  # nothing left: ask again

    with pytest.raises(RateLimited) as refused:
        limiter.enforce([window], [Count(406, 29.5)])
    assert refused.value.retry_after == 30
    with pytest.raises(RateLimited):  # refused at once, without asking, until the window ends
        limiter.spend_leases([window])


def test_small_allowances_are_counted_one_request_at_a_time():
    limiter = RateLimiter()
    [window] = limiter.windows([parse("199/minute")], "key:k")
    assert window.counter.amount == 1
    limiter.enforce([window], [Count(199, 10.0)])
    assert limiter.spend_leases([window]) == [window]
    with pytest.raises(RateLimited):
        limiter.enforce([window], [Count(200, 10.0)])


def test_without_redis_each_process_counts_its_leases_in_memory():
    limiter = RateLimiter()
    [window] = limiter.windows([parse("400/minute")], "key:k")
    allowed = 0
    for _ in range(500):
        try:
            unleased = limiter.spend_leases([window])
            limiter.enforce(unleased, None if unleased else [])
        except RateLimited:
            continue
        allowed += 1
    assert allowed == 400
