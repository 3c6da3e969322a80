"""The cache port: best effort by contract, so a cache outage never fails a request."""

from __future__ import annotations

import abc
from typing import Any


class AbstractCache(abc.ABC):
    @abc.abstractmethod
    def get(self, key: str) -> Any | None:
        """The cached value, or None when absent or when the cache is unreachable."""

    @abc.abstractmethod
    def set(self, key: str, value: Any, timeout: int) -> None:
        """Store a value; silently does nothing when the cache is unreachable."""

    @abc.abstractmethod
    def data_version(self) -> int:
        """A number that changes whenever ranked data changes: part of every cache key."""

    @abc.abstractmethod
    def bump_data_version(self) -> None: ...

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise when the cache cannot be reached."""
