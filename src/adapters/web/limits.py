"""Rate limits: per API key on the API, per account and per address on log-in.

Fixed windows counted by the `limits` library in Redis, so every gunicorn worker and replica
shares them: one round trip (an atomic INCR and EXPIRE script) a request. Without Redis (the
embedded default), and for a few seconds after Redis fails, they are counted in this process's
memory instead. Flask-Limiter did the same with about 0.7 ms more work a request, a third of
the cost of a cached answer.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from flask import Flask, request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from src.adapters.web.auth import presented_api_key

LOGIN_ENDPOINT = "accounts.log_in"
RETRY_REDIS_AFTER_SECONDS = 5.0
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RateLimits:
    storage_uri: str  # redis://... or memory://
    key_prefix: str
    api: str  # per API key, e.g. "600/minute"
    login_per_account: str
    login_per_address: str


class RateLimited(TooManyRequests):
    def __init__(self, rate: RateLimitItem, retry_after: int):
        super().__init__(f"rate limit exceeded ({rate}); retry later")
        self.retry_after = retry_after


class RateLimiter:
    """Counts hits per bucket; raises RateLimited for the first rate a hit would exceed."""

    def __init__(self, storage_uri: str, key_prefix: str):
        self._shared: FixedWindowRateLimiter | None = None
        if storage_uri.startswith("redis"):
            storage = RedisStorage(storage_uri, key_prefix=key_prefix, socket_connect_timeout=0.5, socket_timeout=0.5)
            self._shared = FixedWindowRateLimiter(storage)
        self._local = FixedWindowRateLimiter(MemoryStorage())
        self._shared_down_until = 0.0

    def hit(self, rates: list[RateLimitItem], bucket: str) -> None:
        for rate in rates:
            limiter = self._limiter()
            try:
                allowed = limiter.hit(rate, bucket)
            except Exception as error:  # fail over to memory: a cache fault must not refuse requests
                self._shared_down_until = time.monotonic() + RETRY_REDIS_AFTER_SECONDS
                log.warning("rate limits counted in memory for %ss: %s", RETRY_REDIS_AFTER_SECONDS, error)
                limiter = self._local
                allowed = limiter.hit(rate, bucket)
            if not allowed:
                raise RateLimited(rate, _seconds_until_reset(limiter, rate, bucket))

    def _limiter(self) -> FixedWindowRateLimiter:
        if self._shared is None or time.monotonic() < self._shared_down_until:
            return self._local
        return self._shared


def _seconds_until_reset(limiter: FixedWindowRateLimiter, rate: RateLimitItem, bucket: str) -> int:
    try:
        reset_at = limiter.get_window_stats(rate, bucket).reset_time
    except Exception:  # the longest wait there can be is still a true answer
        return rate.get_expiry()
    return max(1, math.ceil(reset_at - time.time()))


def install_limits(app: Flask, limits: RateLimits, api_blueprints: set[str], accounts_blueprint: str) -> None:
    """Checked first in every request, before authentication and the cache: refused and cached
    requests count too."""
    limiter = RateLimiter(limits.storage_uri, limits.key_prefix + "limits")
    api_rates = parse_many(limits.api)
    per_account, per_address = parse_many(limits.login_per_account), parse_many(limits.login_per_address)

    def check() -> None:
        if request.blueprint in api_blueprints:
            limiter.hit(api_rates, api_key_identity())
        elif request.endpoint == LOGIN_ENDPOINT and request.method == "POST":
            limiter.hit(per_account, login_account_identity())
            limiter.hit(per_address, "address:" + remote_address())

    app.before_request(check)


def api_key_identity() -> str:
    """One bucket per presented key (its hash: keys never reach Redis in clear), else per address."""
    key = presented_api_key()
    if key:
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:32]
    return "address:" + remote_address()


def login_account_identity() -> str:
    email = str(request.form.get("email", "")).strip().lower()
    return "login:" + hashlib.sha256(email.encode()).hexdigest()[:32]


def remote_address() -> str:
    return request.remote_addr or "127.0.0.1"
