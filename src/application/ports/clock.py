"""The clock port, so tests can fix time."""

from __future__ import annotations

import abc
from datetime import UTC, datetime


class Clock(abc.ABC):
    @abc.abstractmethod
    def now(self) -> datetime: ...


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now(UTC)
