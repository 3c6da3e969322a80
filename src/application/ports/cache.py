"""The cache port: what the core asks of the cache, best effort by contract.

Cached answers are kept under the data version, which the store derives from its runs and its
catalogue (see AbstractRunRepository.data_version): a completed run or an LLM added changes it,
so an answer computed before is never served again, without deleting anything. Web processes
read the version at most once a second; `data_changed` lets this process read it again at once.
"""

from __future__ import annotations

import abc


class AbstractCache(abc.ABC):
    @abc.abstractmethod
    def data_changed(self) -> None:
        """This process changed the data: read the data version again; never raises."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise when the cache cannot be reached."""
