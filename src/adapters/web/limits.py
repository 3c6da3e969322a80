"""Rate limits with the `limits` library: per API key on the API, per address on unknown API keys,
per account and per address on log-in, per address on registration.

Fixed windows that start at a bucket's first request, counted in Redis, shared by every worker and
replica; without Redis, and while it is down, in this process's memory. (Flask-Limiter was tried
first: its own work per request cost a cached answer a fifth of its rate.)

A round trip per request would cost a cached answer a fifth of its rate too, so each process
takes a bucket's allowance from Redis a hundredth at a time (a lease, added to the shared count in
one increment) and spends it until the window ends. So no bucket ever passes its limit, and one
is refused early by at most what the other processes hold unspent: a hundredth each. A lease
taken in a window's last second may be spent up to a second after it ends (Redis gives the time
left in whole seconds); those requests count in the window that leased them. A limit under 200 a
window is counted in Redis request by request, as without leases.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from flask import request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from src.adapters.cache.outage import Outage
from src.adapters.web.auth import presented_api_key
from src.application.use_cases.accounts import hash_key

LEASE_SHARE = 100  # a lease is this fraction of the limit
MAX_BUCKETS = 10_000  # past it, leases are dropped (refusing a little early) rather than memory grow


@dataclass(frozen=True)
class RateLimits:
    api: list[RateLimitItem]  # per API key, e.g. parse_many("600/minute")
    invalid_keys_per_address: list[RateLimitItem]
    login_per_account: list[RateLimitItem]  # per account and address: a stranger cannot lock the owner out
    login_per_address: list[RateLimitItem]
    register_per_address: list[RateLimitItem]

    @classmethod
    def parse(cls, **rates: str) -> RateLimits:
        return cls(**{name: parse_many(rate) for name, rate in rates.items()})


class RateLimited(TooManyRequests):
    def __init__(self, rate: RateLimitItem, retry_after: float):
        super().__init__(f"rate limit exceeded ({rate}); retry later")
        self.retry_after = max(1, math.ceil(retry_after))


@dataclass
class Lease:
    """What this process may still admit in a bucket's current window without asking Redis."""

    left: int = 0
    until: float = 0.0  # the end of the window it was taken in (epoch seconds, as in `limits`)
    full: bool = False  # the window's allowance is spent: refused until `until`
    taking: bool = False  # a thread is taking a new lease


class RateLimiter:
    def __init__(self, redis_url: str | None, key_prefix: str):
        self.local = FixedWindowRateLimiter(MemoryStorage())
        self.shared: RedisStorage | None = None
        if redis_url:
            self.shared = RedisStorage(redis_url, key_prefix=key_prefix + "limits", wrap_exceptions=True,
                                       socket_timeout=0.5, socket_connect_timeout=0.5)  # fmt: skip
        self.leases: dict[str, Lease] = {}
        self.lock = threading.Lock()
        self.outage = Outage("rate-limit storage")

    def hit(self, rates: Sequence[RateLimitItem], *bucket: str) -> None:
        """Counts this request in each of the bucket's windows; raises RateLimited past one."""
        for rate in rates:
            self._admit(rate, bucket, cost=1)

    def test(self, rates: Sequence[RateLimitItem], *bucket: str) -> None:
        """Raises RateLimited if the bucket is past one of its windows, counting nothing."""
        for rate in rates:
            self._admit(rate, bucket, cost=0)

    def _admit(self, rate: RateLimitItem, bucket: tuple[str, ...], cost: int) -> None:
        shared = self.shared
        if shared is None:
            refused_for = self._refused_locally(rate, bucket, cost)
        else:  # counted here while Redis is down
            refused_for = self.outage.call(
                lambda: self._refused_shared(shared, rate, bucket, cost),
                lambda: self._refused_locally(rate, bucket, cost),
            )
        if refused_for is not None:
            raise RateLimited(rate, refused_for)

    def _refused_locally(self, rate: RateLimitItem, bucket: tuple[str, ...], cost: int) -> float | None:
        """None if admitted, else the seconds until the window ends."""
        if self.local.hit(rate, *bucket) if cost else self.local.test(rate, *bucket):
            return None
        return self.local.get_window_stats(rate, *bucket).reset_time - time.time()

    def _refused_shared(
        self, shared: RedisStorage, rate: RateLimitItem, bucket: tuple[str, ...], cost: int
    ) -> float | None:
        key = rate.key_for(*bucket)
        with self.lock:
            if len(self.leases) >= MAX_BUCKETS:
                self.leases.clear()
            lease = self.leases.setdefault(key, Lease())
            if time.time() < lease.until:
                if lease.full:
                    return lease.until - time.time()
                if lease.left >= max(cost, 1):
                    lease.left -= cost
                    return None
            # One thread a process takes a lease; meanwhile the others count request by request.
            taking = bool(cost) and not lease.taking and rate.amount >= 2 * LEASE_SHARE
            lease.taking = lease.taking or taking
        if not cost:  # a test: would one more request pass?
            return None if shared.get(key) < rate.amount else shared.get_expiry(key) - time.time()
        try:
            return self._take(shared, rate, key, lease, rate.amount // LEASE_SHARE if taking else 1)
        finally:
            if taking:
                lease.taking = False

    def _take(self, shared: RedisStorage, rate: RateLimitItem, key: str, lease: Lease, size: int) -> float | None:
        """Takes `size` requests of the window's allowance, this one's included; None if granted."""
        granted = size - max(0, shared.incr(key, rate.get_expiry(), amount=size) - rate.amount)
        if granted == 1:
            return None  # this request's alone: nothing left to spend later
        until = shared.get_expiry(key)
        if granted > 1:
            # Redis gives the time left in whole seconds, none in a window's last half second: a
            # lease that ended at once would make every request take another (and the bucket
            # refuse far below its limit). It is spent for up to a second more, counted in the
            # window it was taken from.
            until = max(until, time.time() + 1.0)
        with self.lock:  # another thread's lease of the same window keeps what it has left
            kept = lease.left if time.time() < lease.until and not lease.full else 0
            lease.left, lease.until, lease.full = kept + max(0, granted - 1), until, granted <= 0
        return until - time.time() if granted <= 0 else None


def api_key_identity() -> str:
    """One bucket per presented key (its hash: keys never reach Redis in clear), else per address."""
    key = presented_api_key()
    if key:
        return "key:" + hash_key(key)[:32]
    return "address:" + remote_address()


def login_account_identity() -> str:
    """The account asked for, from this address: wrong passwords sent from elsewhere leave the
    owner's own attempts alone."""
    email = str(request.form.get("email", "")).strip().lower()
    return "login:" + hashlib.sha256(f"{email} {remote_address()}".encode()).hexdigest()[:32]


def remote_address() -> str:
    return request.remote_addr or "127.0.0.1"
