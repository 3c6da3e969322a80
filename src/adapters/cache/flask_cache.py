"""The cache adapter over Flask-Caching (Redis in production, in-process by default); fail-open.

When the backend errs, the adapter answers as if the cache were empty and stops asking it for a
few seconds, so an outage costs one timeout now and then instead of one per request.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask_caching import Cache

from src.application.ports.cache import AbstractCache

log = logging.getLogger(__name__)

DATA_VERSION_KEY = "data-version"
RETRY_AFTER_SECONDS = 5.0


class FlaskCache(AbstractCache):
    def __init__(self, cache: Cache):
        self.cache = cache
        self._down_until = 0.0
        self._pending_bump = False

    def get(self, key: str) -> Any | None:
        return self._call(self.cache.get, key)

    def set(self, key: str, value: Any, timeout: int) -> None:
        self._call(self.cache.set, key, value, timeout=timeout)

    def data_version(self) -> int:
        return int(self._call(self.cache.get, DATA_VERSION_KEY) or 0)

    def bump_data_version(self) -> None:
        # A bump lost to an outage is retried by the next call that reaches the cache.
        self._pending_bump = True
        self._call(lambda: None)

    def ping(self) -> None:
        self.cache.set("ping", 1, timeout=5)  # raises when the backend is down: readiness shows it

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() < self._down_until:
            return None
        try:
            if self._pending_bump:
                self.cache.cache.inc(DATA_VERSION_KEY)
                self._pending_bump = False
            return method(*args, **kwargs)
        except Exception as error:  # fail open: a cache fault must never fail the request
            self._down_until = time.monotonic() + RETRY_AFTER_SECONDS
            log.warning("cache unavailable, serving uncached for %ss: %s", RETRY_AFTER_SECONDS, error)
            return None
