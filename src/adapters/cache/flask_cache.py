"""The cache adapter over Flask-Caching (Redis in production, process memory by default).

Fail-open: when the backend errs, reads answer "absent", writes are dropped, and the backend is
left alone for RETRY_AFTER_SECONDS, so an outage costs one timeout now and then instead of one per
request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask_caching import Cache

from src.application.ports.cache import AbstractCache

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_AFTER_SECONDS = 5.0


class FlaskCache(AbstractCache):
    def __init__(self, cache: Cache):
        self.cache = cache
        self._down_until = 0.0
        self._listeners: list[Callable[[], None]] = []

    def on_data_changed(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def data_changed(self) -> None:
        for listener in self._listeners:
            listener()

    def ping(self) -> None:
        self.cache.set("ping", 1, timeout=5)  # raises when the backend is down: readiness shows it

    def get(self, key: str) -> Any | None:
        return self._call(lambda: self.cache.get(key), None)

    def set(self, key: str, value: Any, timeout: int) -> None:
        self._call(lambda: self.cache.set(key, value, timeout=timeout), None)

    def _call(self, action: Callable[[], T], fallback: T) -> T:
        if time.monotonic() < self._down_until:
            return fallback
        try:
            return action()
        except Exception as error:  # fail open: a cache fault must never fail the request
            self._down_until = time.monotonic() + RETRY_AFTER_SECONDS
            log.warning("cache unavailable, serving uncached for %ss: %s", RETRY_AFTER_SECONDS, error)
            return fallback
