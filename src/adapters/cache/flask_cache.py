"""The cache adapter over Flask-Caching (Redis in production, in-process by default); fail-open.

A lookup reads the data version and the entry in one round trip (MGET on Redis). When the backend
errs, the adapter answers as if the cache were empty and stops asking it for a few seconds, so an
outage costs one timeout now and then instead of one per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask_caching import Cache

from src.application.ports.cache import AbstractCache, CacheLookup

log = logging.getLogger(__name__)

DATA_VERSION_KEY = "data-version"
RETRY_AFTER_SECONDS = 5.0
T = TypeVar("T")


class FlaskCache(AbstractCache):
    def __init__(self, cache: Cache):
        self.backend = cache.cache
        self._down_until = 0.0
        self._pending_bump = False

    def lookup(self, key: str) -> CacheLookup:
        version, entry = self._call(lambda: self.backend.get_many(DATA_VERSION_KEY, key), (None, None))
        version = int(version or 0)
        if entry is None or entry[0] != version:
            return CacheLookup(version, None)
        return CacheLookup(version, entry[1])

    def store(self, key: str, version: int, value: Any, timeout: int) -> None:
        self._call(lambda: self.backend.set(key, (version, value), timeout=timeout), None)

    def bump_data_version(self) -> None:
        # A bump lost to an outage is retried by the next call that reaches the cache.
        self._pending_bump = True
        self._call(lambda: None, None)

    def ping(self) -> None:
        self.backend.set("ping", 1, timeout=5)  # raises when the backend is down: readiness shows it

    def _call(self, action: Callable[[], T], fallback: T) -> T:
        if time.monotonic() < self._down_until:
            return fallback
        try:
            if self._pending_bump:
                self.backend.inc(DATA_VERSION_KEY)
                self._pending_bump = False
            return action()
        except Exception as error:  # fail open: a cache fault must never fail the request
            self._down_until = time.monotonic() + RETRY_AFTER_SECONDS
            log.warning("cache unavailable, serving uncached for %ss: %s", RETRY_AFTER_SECONDS, error)
            return fallback
