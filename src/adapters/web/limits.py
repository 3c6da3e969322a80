"""Rate limits: per API key on the API, per address on unknown API keys, per account and per
address on log-in.

Fixed windows that start at a bucket's first request (as Flask-Limiter's do), so a client may
spend a whole allowance at the end of one window and again at the start of the next. They are
counted in Redis, shared by every gunicorn worker and replica, in the same round trip as the
cache lookup (FlaskCache.lookup). Without Redis (the embedded default), and while Redis is down,
each process counts in its own memory.

A process takes a lease of 1% of an allowance (at most 100) at a time and spends it without
asking Redis again: a cached answer then costs no round trip. The allowance is never exceeded,
but a client may be refused early by what other processes hold unspent (at most a lease per
thread); allowances under 200 are leased one request at a time, so they are exact. A process
that sees a window refused refuses it by itself until the window ends (it would only grow).
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
LEASED_SHARE = 100  # a lease is 1/LEASED_SHARE of an allowance
MAX_LEASE = 100


@dataclass(frozen=True)
class RateLimits:
    api: list[RateLimitItem]  # per API key, e.g. parse_many("600/minute")
    login_per_account: list[RateLimitItem]  # per account and address: a stranger cannot lock the owner out
    login_per_address: list[RateLimitItem]
    register_per_address: list[RateLimitItem]
    invalid_keys_per_address: list[RateLimitItem]

    @classmethod
    def parse(cls, **rates: str) -> RateLimits:
        return cls(**{name: parse_many(rate) for name, rate in rates.items()})


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
        self._leases: dict[str, tuple[int, float]] = {}  # counter key: (requests left, monotonic end)
        self._refused: dict[str, float] = {}  # counter key: monotonic end of its refused window
        self._lock = threading.Lock()
        self._next_prune = 0.0

    def windows(self, rates: Sequence[RateLimitItem], bucket: str) -> list[Window]:
        return [Window(rate, _counter(rate, bucket)) for rate in rates]

    def refuse_refused(self, windows: Sequence[Window]) -> None:
        """Raise RateLimited if any window was refused in this process and has not ended."""
        now = time.monotonic()
        for window in windows:
            ends_at = self._refused.get(window.counter.key, 0.0)
            if ends_at > now:
                raise RateLimited(window.rate, max(1, math.ceil(ends_at - now)))

    def spend_leases(self, windows: Sequence[Window]) -> list[Window]:
        """Counts this request against the windows this process holds a lease of; returns the
        others, to be counted in the shared store and enforced."""
        self.refuse_refused(windows)
        unleased = []
        with self._lock:
            now = time.monotonic()
            for window in windows:
                left, ends_at = self._leases.get(window.counter.key, (0, 0.0))
                if left > 0 and ends_at > now:
                    self._leases[window.counter.key] = (left - 1, ends_at)
                else:
                    unleased.append(window)
        return unleased

    def enforce(self, windows: Sequence[Window], counts: Sequence[Count] | None) -> None:
        """Raise RateLimited past any window's rate. `counts` are the windows' shared counts,
        this request's amount included; None when they could not be counted there."""
        if counts is None:
            counts = [self._count_in_memory(window.counter) for window in windows]
        refused = None
        for window, count in zip(windows, counts, strict=True):
            granted = window.counter.amount - max(0, count.value - window.rate.amount)
            if granted > 1:
                self._lease(window.counter.key, granted - 1, count.resets_in)
            elif granted < 1:
                self._refuse(window.counter.key, count.resets_in)
                refused = refused or RateLimited(window.rate, max(1, math.ceil(count.resets_in)))
        if refused is not None:
            raise refused

    def _lease(self, key: str, requests: int, seconds: float) -> None:
        with self._lock:
            now = time.monotonic()
            self._prune(now)
            left, ends_at = self._leases.get(key, (0, 0.0))  # another thread's lease meanwhile adds up
            self._leases[key] = ((left if ends_at > now else 0) + requests, now + seconds)

    def _refuse(self, key: str, seconds: float) -> None:
        with self._lock:
            now = time.monotonic()
            self._prune(now)
            self._refused[key] = now + seconds

    def _count_in_memory(self, counter: Counter) -> Count:
        """As Redis would count (the lease included), in this process's memory."""
        with self._lock:
            now = time.monotonic()
            self._prune(now)
            count, resets_at = self._memory.get(counter.key, (0, 0.0))
            if resets_at <= now:
                count, resets_at = 0, now + counter.period
            self._memory[counter.key] = (count + counter.amount, resets_at)
            return Count(count + counter.amount, resets_at - now)

    def _prune(self, now: float) -> None:
        if now >= self._next_prune:
            self._memory = {key: kept for key, kept in self._memory.items() if kept[1] > now}
            self._leases = {key: kept for key, kept in self._leases.items() if kept[1] > now}
            self._refused = {key: ends_at for key, ends_at in self._refused.items() if ends_at > now}
            self._next_prune = now + PRUNE_EVERY_SECONDS


def _counter(rate: RateLimitItem, bucket: str) -> Counter:
    lease = max(1, min(rate.amount // LEASED_SHARE, MAX_LEASE))
    return Counter(f"limits:{rate.amount}/{rate.get_expiry()}s:{bucket}", rate.get_expiry(), lease)


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
