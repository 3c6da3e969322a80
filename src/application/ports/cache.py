"""The cache port: what the core asks of the cache, best effort by contract.

Cached entries belong to a data version, which every completed run bumps: an entry stored under
an older version is never served, so a new run shows at once without deleting anything. (Reading
and keeping entries is the web adapter's business: the core only says when its data changed.)
"""

from __future__ import annotations

import abc


class AbstractCache(abc.ABC):
    @abc.abstractmethod
    def bump_data_version(self) -> None:
        """Make every entry computed so far stale; never raises (a lost bump is retried)."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise when the cache cannot be reached."""
