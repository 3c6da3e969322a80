"""The cache adapter over Flask-Caching (Redis in production, process memory by default),
fail-open: while the backend is down, reads answer "absent" and writes are dropped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_caching import Cache

from src.adapters.cache.outage import Outage
from src.application.ports.cache import AbstractCache


class FlaskCache(AbstractCache):
    def __init__(self, cache: Cache):
        self.cache = cache
        self.outage = Outage("cache")
        self._listeners: list[Callable[[], None]] = []

    def on_data_changed(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def data_changed(self) -> None:
        for listener in self._listeners:
            listener()

    def ping(self) -> None:
        self.cache.set("ping", 1, timeout=5)  # raises when the backend is down: readiness shows it

    def get(self, key: str) -> Any | None:
        return self.outage.call(lambda: self.cache.get(key), lambda: None)

    def set(self, key: str, value: Any, timeout: int) -> None:
        self.outage.call(lambda: self.cache.set(key, value, timeout=timeout), lambda: None)
