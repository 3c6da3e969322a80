"""The cache port: best effort by contract, so a cache outage never fails a request.

Entries belong to a data version, which every completed run bumps: an entry stored under an
older version is never served, so a new run shows at once without deleting anything.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CacheLookup:
    version: int  # the current data version: store what you compute under this one
    value: Any | None  # None when absent, stale, or the cache is unreachable


class AbstractCache(abc.ABC):
    @abc.abstractmethod
    def lookup(self, key: str) -> CacheLookup: ...

    @abc.abstractmethod
    def store(self, key: str, version: int, value: Any, timeout: int) -> None:
        """Keep a value computed from data of `version`; does nothing when the cache is down."""

    @abc.abstractmethod
    def bump_data_version(self) -> None: ...

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise when the cache cannot be reached."""
