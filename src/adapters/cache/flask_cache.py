"""The cache adapter over Flask-Caching (Redis in production, in-process by default); fail-open.

A lookup reads the data version and the entry in one round trip, and counts the request's
rate-limit windows in that same trip. With Redis, each process also keeps near copies of what it
served (NearCache): a cached answer whose window counts are leased takes no round trip at all.
When the backend errs, the adapter answers as if the cache were empty (and counts nothing) and
stops asking it for a few seconds, so an outage costs one timeout now and then instead of one per
request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from flask_caching import Cache

from src.adapters.cache.near_cache import NearCache
from src.application.ports.cache import AbstractCache

log = logging.getLogger(__name__)

DATA_VERSION_KEY = "data-version"
RETRY_AFTER_SECONDS = 5.0
# KEYS: the counters, then (when an entry is wanted) the data version and the entry;
# ARGV: per counter, its period in milliseconds (its expiry from its first count, or whenever it
# has none) and how much to add. Returns each counter's count and milliseconds left, then the values.
COUNT_AND_GET = """
local counters = #ARGV / 2
local replies = {}
for i = 1, counters do
  local count = redis.call('INCRBY', KEYS[i], ARGV[2 * i])
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl < 0 then
    redis.call('PEXPIRE', KEYS[i], ARGV[2 * i - 1])
    ttl = tonumber(ARGV[2 * i - 1])
  end
  replies[2 * i - 1] = count
  replies[2 * i] = ttl
end
for i = counters + 1, #KEYS do
  replies[counters + i] = redis.call('GET', KEYS[i])
end
return replies
"""
# The version doubles as the channel its bumps are announced on (to every process's NearCache).
BUMP = """
local version = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', KEYS[1], version)
return version
"""
T = TypeVar("T")


@dataclass(frozen=True)
class Counter:
    key: str
    period: int  # seconds: the counter starts over this long after its first count
    amount: int = 1  # added by this request: more than 1 leases the rest (see RateLimiter)


@dataclass(frozen=True)
class Count:
    value: int  # this one included
    resets_in: float  # seconds


@dataclass(frozen=True)
class CacheLookup:
    version: int  # the current data version: store what you compute under this one
    value: Any | None  # None when absent, stale, or the cache is unreachable
    counts: tuple[Count, ...] | None = None  # the counters' new counts; None when not counted here


class FlaskCache(AbstractCache):
    def __init__(self, cache: Cache):
        self.backend = cache.cache
        self._down_until = 0.0
        self._pending_bump = False
        self._retry: threading.Timer | None = None
        self._retry_lock = threading.Lock()
        self._near: NearCache | None = None
        # The backend's own client: counters share its connection pool and its round trip.
        client = getattr(self.backend, "_write_client", None)
        if client is not None:
            # One script rather than a pipeline: atomic, and redis-py does less work for one command
            # than for three (here 0.32 ms against 0.36 ms of CPU, in turns). Needs a single Redis node.
            self._count_and_get = client.register_script(COUNT_AND_GET)
            self._bump = client.register_script(BUMP)
            self._version_key = self.backend.key_prefix + DATA_VERSION_KEY
            self._near = NearCache(client, self._version_key)

    def lookup(self, key: str | None, counters: Sequence[Counter] = ()) -> CacheLookup:
        """The entry of `key` (None: no entry wanted) and the counters' new counts, which are
        only counted in Redis: without it they come back None, for the caller to count."""
        if key is None and not counters:
            return CacheLookup(0, None, ())
        if self._near is None:
            if key is None:
                return CacheLookup(0, None)
            version, entry = self._call(lambda: self.backend.get_many(DATA_VERSION_KEY, key), (None, None))
            return _current(version, entry)
        near = self._near.get(key) if key is not None else None
        if near is not None and not counters:
            return CacheLookup(*near, ())
        found = self._call(lambda: self._round_trip(None if near else key, counters), CacheLookup(0, None))
        if near is not None:
            return CacheLookup(*near, found.counts)
        if key is not None:
            self._near.watch.saw(found.version)  # heals a missed announcement
            if found.value is not None:
                self._near.keep(key, found.version, found.value)
        return found

    def store(self, key: str, version: int, value: Any, timeout: int) -> None:
        if self._near is not None:
            self._near.keep(key, version, value)
        self._call(lambda: self.backend.set(key, (version, value), timeout=timeout), None)

    def bump_data_version(self) -> None:
        # A bump lost to an outage is retried by the next call that reaches the cache, and every
        # few seconds meanwhile: a worker may have nothing more to do, and until the bump lands
        # every process would serve answers that miss the run, once Redis is back.
        self._pending_bump = True
        self._call(lambda: None, None)
        with self._retry_lock:
            if self._pending_bump and self._retry is None:
                self._retry = threading.Timer(RETRY_AFTER_SECONDS, self._retry_bump)
                self._retry.daemon = True
                self._retry.start()

    def _retry_bump(self) -> None:
        with self._retry_lock:
            self._retry = None
        if self._pending_bump:
            self.bump_data_version()

    def ping(self) -> None:
        self.backend.set("ping", 1, timeout=5)  # raises when the backend is down: readiness shows it

    def _round_trip(self, key: str | None, counters: Sequence[Counter]) -> CacheLookup:
        prefix = self.backend.key_prefix
        keys = [prefix + counter.key for counter in counters]
        if key is not None:
            keys += [self._version_key, prefix + key]
        args = [number for counter in counters for number in (counter.period * 1000, counter.amount)]
        replies = self._count_and_get(keys=keys, args=args)
        counted = 2 * len(counters)
        counts = tuple(Count(int(replies[i]), replies[i + 1] / 1000) for i in range(0, counted, 2))
        if key is None:
            return CacheLookup(0, None, counts)
        version, entry = (self.backend.serializer.loads(raw) for raw in replies[counted:])
        return _current(version, entry, counts)

    def _announce_bump(self) -> None:
        if self._near is None:
            self.backend.inc(DATA_VERSION_KEY)
        else:
            self._near.watch.saw(int(self._bump(keys=[self._version_key])))  # at once in this process

    def _call(self, action: Callable[[], T], fallback: T) -> T:
        if time.monotonic() < self._down_until:
            return fallback
        try:
            if self._pending_bump:
                self._announce_bump()
                self._pending_bump = False
            return action()
        except Exception as error:  # fail open: a cache fault must never fail the request
            self._down_until = time.monotonic() + RETRY_AFTER_SECONDS
            log.warning("cache unavailable, serving uncached for %ss: %s", RETRY_AFTER_SECONDS, error)
            return fallback


def _current(version: Any, entry: Any, counts: tuple[Count, ...] | None = None) -> CacheLookup:
    version = int(version or 0)
    if entry is None or entry[0] != version:
        return CacheLookup(version, None, counts)
    return CacheLookup(version, entry[1], counts)
