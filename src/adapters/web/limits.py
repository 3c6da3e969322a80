"""Rate limits with the `limits` library: fixed windows counted in Redis, shared by every process
and replica, or in this process's memory without Redis and while it is down.

A round trip a request would cost a cached answer a quarter of its rate, so a process takes a
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
FULL = -1  # a lease's `left` once its window is spent


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
        self.leases: dict[str, tuple[int, float]] = {}  # key: (requests left, end of their window)
        self.lock = threading.Lock()
        self.taking: dict[str, threading.Lock] = {}  # a bucket's: held while a lease of it is taken
        self.outage = Outage("rate-limit storage")

    def hit(self, rates: Sequence[RateLimitItem], *bucket: str, count: bool = True) -> None:
        """Counts this request in each of the bucket's windows (with `count=False`, only checks
        that one more would pass); raises RateLimited past one."""
        for rate in rates:
            in_memory = partial(self._in_memory, rate, bucket, count)
            redis = self.redis
            refused_for = (
                in_memory()
                if redis is None
                else self.outage.call(partial(self._leased, redis, rate, rate.key_for(*bucket), count), in_memory)
            )
            if refused_for is not None:
                raise RateLimited(rate, refused_for)

    def _in_memory(self, rate: RateLimitItem, bucket: tuple[str, ...], count: bool) -> float | None:
        """None if admitted, else the seconds until the window ends (as `_leased`)."""
        if (self.memory.hit if count else self.memory.test)(rate, *bucket):
            return None
        return self.memory.get_window_stats(rate, *bucket).reset_time - time.time()

    def _leased(self, redis: RedisStorage, rate: RateLimitItem, key: str, count: bool) -> float | None:
        if (spent := self._from_lease(key, count)) is not False:
            return spent
        if not count:
            return None if redis.get(key) < rate.amount else redis.get_expiry(key) - time.time()
        with self.lock:
            taking = self.taking.setdefault(key, threading.Lock())
        with taking:  # one lease at a time a bucket: threads that waited spend the one just taken
            if (spent := self._from_lease(key, count)) is not False:
                return spent
            return self._take_lease(redis, rate, key)

    def _from_lease(self, key: str, count: bool) -> float | bool | None:
        """None if the lease this process holds admits the request, the seconds to wait if its
        window is spent, False if it holds none."""
        with self.lock:
            left, until = self.leases.get(key, (0, 0.0))
            if time.time() < until and left != 0:
                if left > 0 and count:
                    self.leases[key] = (left - 1, until)
                return None if left > 0 else until - time.time()
        return False

    def _take_lease(self, redis: RedisStorage, rate: RateLimitItem, key: str) -> float | None:
        size = max(1, rate.amount // LEASE_SHARE)
        granted = size - max(0, redis.incr(key, rate.get_expiry(), amount=size) - rate.amount)
        if granted == 1:
            return None  # this request's alone: nothing left to keep
        # Redis gives the time left in whole seconds, none in the last half second: a lease is
        # spent for up to a second more, or every request would take another.
        until = max(redis.get_expiry(key), time.time() + 1.0) if granted > 0 else redis.get_expiry(key)
        with self.lock:
            if len(self.leases) >= MAX_BUCKETS:
                self.leases.clear()
                self.taking.clear()
            self.leases[key] = (granted - 1, until) if granted > 0 else (FULL, until)
        return None if granted > 0 else until - time.time()
