"""Rate limits with the `limits` library: per API key on the API, per address on unknown API keys,
per account and per address on log-in, per address on registration.

Fixed windows that start at a bucket's first request, counted in Redis (one round trip, shared by
every worker and replica); without Redis, and while it is down, in this process's memory.
(Flask-Limiter was tried first: its own work per request cost a cached answer a fifth of its rate.)
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from flask import request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from src.adapters.cache.outage import Outage
from src.adapters.web.auth import presented_api_key
from src.application.use_cases.accounts import hash_key

T = TypeVar("T")


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
    def __init__(self, rate: RateLimitItem, retry_after: int):
        super().__init__(f"rate limit exceeded ({rate}); retry later")
        self.retry_after = retry_after


class RateLimiter:
    def __init__(self, redis_url: str | None, key_prefix: str):
        self.local = self.shared = FixedWindowRateLimiter(MemoryStorage())
        if redis_url:
            storage = RedisStorage(redis_url, key_prefix=key_prefix + "limits", wrap_exceptions=True,
                                   socket_timeout=0.5, socket_connect_timeout=0.5)  # fmt: skip
            self.shared = FixedWindowRateLimiter(storage)
        self.outage = Outage("rate-limit storage")

    def hit(self, rates: Sequence[RateLimitItem], *bucket: str) -> None:
        """Counts this request in each of the bucket's windows; raises RateLimited past one."""
        for rate in rates:
            if not self._counted(lambda limiter: limiter.hit(rate, *bucket)):  # noqa: B023 (called at once)
                raise RateLimited(rate, self._retry_after(rate, bucket))

    def test(self, rates: Sequence[RateLimitItem], *bucket: str) -> None:
        """Raises RateLimited if the bucket is past one of its windows, counting nothing."""
        for rate in rates:
            if not self._counted(lambda limiter: limiter.test(rate, *bucket)):  # noqa: B023 (called at once)
                raise RateLimited(rate, self._retry_after(rate, bucket))

    def _counted(self, count: Callable[[FixedWindowRateLimiter], T]) -> T:
        """Counted in Redis; in this process's memory without it or while it is down."""
        return self.outage.call(lambda: count(self.shared), lambda: count(self.local))

    def _retry_after(self, rate: RateLimitItem, bucket: tuple[str, ...]) -> int:
        """Seconds until the window starts over."""
        ends = self._counted(lambda limiter: limiter.get_window_stats(rate, *bucket).reset_time)
        return max(1, math.ceil(ends - time.time()))


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
