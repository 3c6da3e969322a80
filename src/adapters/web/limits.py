"""Rate limits with the `limits` library: fixed windows counted in Redis, shared by every process
and replica, or in this process's memory without Redis and while it is down."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from limits import RateLimitItem
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from src.adapters.cache.outage import Outage


@dataclass(frozen=True)
class RateLimits:
    api: tuple[RateLimitItem, ...]  # per API key, of the requests the response cache cannot answer
    login_per_account: tuple[RateLimitItem, ...]  # per account and address: a stranger cannot lock the owner out
    login_per_address: tuple[RateLimitItem, ...]
    register_per_address: tuple[RateLimitItem, ...]
    invalid_keys_per_address: tuple[RateLimitItem, ...]


class RateLimiter:
    def __init__(self, redis_url: str | None, key_prefix: str):
        self.memory = FixedWindowRateLimiter(MemoryStorage())
        self.shared = FixedWindowRateLimiter(RedisStorage(
            redis_url, key_prefix=key_prefix + "limits", wrap_exceptions=True, socket_timeout=0.5,
            socket_connect_timeout=0.5)) if redis_url else self.memory  # fmt: skip
        self.outage = Outage("rate-limit storage")

    def hit(self, rates: Sequence[RateLimitItem], *bucket: str, count: bool = True) -> None:
        """Counts this request in each of the bucket's windows (with `count=False`, only checks
        that one more would pass); past one, raises a 429 saying when to retry."""
        for rate in rates:
            check = partial(_refused_for, rate=rate, bucket=bucket, count=count)
            refused_for = self.outage.call(partial(check, self.shared), partial(check, self.memory))
            if refused_for is not None:
                retry_after = max(1, math.ceil(refused_for))
                raise TooManyRequests(f"rate limit exceeded ({rate}); retry later", retry_after=retry_after)


def _refused_for(
    limiter: FixedWindowRateLimiter, rate: RateLimitItem, bucket: tuple[str, ...], count: bool
) -> float | None:
    """None if admitted, else the seconds until the window ends."""
    if (limiter.hit if count else limiter.test)(rate, *bucket):
        return None
    return limiter.get_window_stats(rate, *bucket).reset_time - time.time()
