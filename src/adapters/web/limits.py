"""Rate limits: per API key on the API, per account and per address on log-in.

Fixed windows that start at a bucket's first request (as Flask-Limiter's do), so a client may
spend a whole allowance at the end of one window and again at the start of the next. They are
counted in Redis, shared by every gunicorn worker and replica, in the same round trip as the
cache lookup (FlaskCache.lookup). Without Redis (the embedded default), and while Redis is down,
each process counts in its own memory.
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
from werkzeug.exceptions import TooManyRequests

from src.adapters.cache.flask_cache import Count, Counter
from src.adapters.web.auth import presented_api_key
from src.application.use_cases.accounts import hash_key

PRUNE_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class RateLimits:
    api: list[RateLimitItem]  # per API key, e.g. parse_many("600/minute")
    login_per_account: list[RateLimitItem]
    login_per_address: list[RateLimitItem]

    @classmethod
    def parse(cls, api: str, login_per_account: str, login_per_address: str) -> RateLimits:
        return cls(parse_many(api), parse_many(login_per_account), parse_many(login_per_address))


@dataclass(frozen=True)
class Window:
    """The current window of `rate` for one bucket, and the counter that counts it."""

    rate: RateLimitItem
    counter: Counter


class RateLimited(TooManyRequests):
    def __init__(self, rate: RateLimitItem, retry_after: int):
        super().__init__(f"rate limit exceeded ({rate}); retry later")
        self.retry_after = retry_after


class RateLimiter:
    def __init__(self) -> None:
        self._memory: dict[str, tuple[int, float]] = {}  # counter key: (count, monotonic reset time)
        self._lock = threading.Lock()
        self._next_prune = 0.0

    def windows(self, rates: Sequence[RateLimitItem], bucket: str) -> list[Window]:
        return [
            Window(rate, Counter(f"limits:{rate.amount}/{rate.get_expiry()}s:{bucket}", rate.get_expiry()))
            for rate in rates
        ]

    def enforce(self, windows: Sequence[Window], counts: Sequence[Count] | None) -> None:
        """Raise RateLimited past any window's rate. `counts` are the windows' shared counts,
        this request's included; None when they could not be counted there."""
        if counts is None:
            counts = [self._count_in_memory(window.counter) for window in windows]
        for window, count in zip(windows, counts, strict=True):
            if count.value > window.rate.amount:
                raise RateLimited(window.rate, max(1, math.ceil(count.resets_in)))

    def _count_in_memory(self, counter: Counter) -> Count:
        with self._lock:
            now = time.monotonic()
            if now >= self._next_prune:
                self._memory = {key: kept for key, kept in self._memory.items() if kept[1] > now}
                self._next_prune = now + PRUNE_EVERY_SECONDS
            count, resets_at = self._memory.get(counter.key, (0, 0.0))
            if resets_at <= now:
                count, resets_at = 0, now + counter.period
            self._memory[counter.key] = (count + 1, resets_at)
            return Count(count + 1, resets_at - now)


def api_key_identity() -> str:
    """One bucket per presented key (its hash: keys never reach Redis in clear), else per address."""
    key = presented_api_key()
    if key:
        return "key:" + hash_key(key)[:32]
    return "address:" + remote_address()


def login_account_identity() -> str:
    email = str(request.form.get("email", "")).strip().lower()
    return "login:" + hashlib.sha256(email.encode()).hexdigest()[:32]


def remote_address() -> str:
    return request.remote_addr or "127.0.0.1"
