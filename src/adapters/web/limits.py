"""Rate limits with the `limits` library: fixed windows counted in Redis, shared by every process
and replica, or in this process's memory without Redis and while it is down.

A round trip a request would cost a cached answer a third of its rate, so a process takes a
bucket's allowance from Redis a hundredth at a time (a lease: one increment of the shared count)
and spends it until the window ends. No bucket passes its limit; one is refused early by at most
what the other processes hold unspent. Limits under 200 a window are counted request by request.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from limits import RateLimitItem
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from src.adapters.cache.outage import Outage

LEASE_SHARE = 100  # a lease is this fraction of the limit
MAX_BUCKETS = 10_000  # past it, leases are dropped (refusing a little early) rather than memory grow


@dataclass(frozen=True)
class RateLimits:
    api: tuple[RateLimitItem, ...]  # per API key (or address, without one)
    login_per_account: tuple[RateLimitItem, ...]  # per account and address: a stranger cannot lock the owner out
    login_per_address: tuple[RateLimitItem, ...]
    register_per_address: tuple[RateLimitItem, ...]
    invalid_keys_per_address: tuple[RateLimitItem, ...]


class RateLimited(TooManyRequests):
    def __init__(self, rate: RateLimitItem, retry_after: float):
        super().__init__(f"rate limit exceeded ({rate}); retry later")
        self.retry_after = max(1, math.ceil(retry_after))


class RateLimiter:
    def __init__(self, redis_url: str | None, key_prefix: str):
        self.memory = FixedWindowRateLimiter(MemoryStorage())
        self.redis = RedisStorage(redis_url, key_prefix=key_prefix + "limits", wrap_exceptions=True,
                                  socket_timeout=0.5, socket_connect_timeout=0.5) if redis_url else None  # fmt: skip
        self.leases: dict[str, tuple[int, float]] = {}  # key: (requests left, -1 once refused; window's end)
        self.lock = threading.Lock()
        self.outage = Outage("rate-limit storage")

    def hit(self, rates: Sequence[RateLimitItem], *bucket: str, count: bool = True) -> None:
        """Counts this request in each of the bucket's windows (with `count=False`, only checks
        that one more would pass); raises RateLimited past one."""
        for rate in rates:
            in_memory = partial(self._in_memory, rate, bucket, count)
            leased = partial(self._leased, self.redis, rate, bucket, count)
            refused_for = self.outage.call(leased, in_memory) if self.redis else in_memory()
            if refused_for is not None:
                raise RateLimited(rate, refused_for)

    def _in_memory(self, rate: RateLimitItem, bucket: tuple[str, ...], count: bool) -> float | None:
        """None if admitted, else the seconds until the window ends."""
        if (self.memory.hit if count else self.memory.test)(rate, *bucket):
            return None
        return self.memory.get_window_stats(rate, *bucket).reset_time - time.time()

    def _leased(self, redis: RedisStorage, rate: RateLimitItem, bucket: tuple[str, ...], count: bool) -> float | None:
        key = rate.key_for(*bucket)
        with self.lock:  # one lease is taken at a time: threads that waited spend it
            if self.outage.down():  # found down while this thread waited: no second timeout
                return self._in_memory(rate, bucket, count)
            left, until = self.leases.get(key, (0, 0.0))
            if left == 0 or time.time() >= until:
                if not count:
                    return None if redis.get(key) < rate.amount else redis.get_expiry(key) - time.time()
                left, until = self.leases[key] = self._take_lease(redis, rate, key)
            if left < 0:
                return until - time.time()
            self.leases[key] = (left - count, until)
            return None

    def _take_lease(self, redis: RedisStorage, rate: RateLimitItem, key: str) -> tuple[int, float]:
        size = max(1, rate.amount // LEASE_SHARE)
        granted = size - max(0, redis.incr(key, rate.get_expiry(), amount=size) - rate.amount)
        if len(self.leases) >= MAX_BUCKETS:
            self.leases.clear()
        if granted == 1:
            return 1, math.inf  # this request's alone: spent at once, nothing left to time
        # Redis gives the time left in whole seconds, none in the last half second: a lease is
        # spent for up to a second more, or every request would take another.
        until = redis.get_expiry(key)
        return (granted, max(until, time.time() + 1.0)) if granted > 0 else (-1, until)
