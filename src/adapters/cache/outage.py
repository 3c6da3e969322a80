"""Fail-open access to Redis, which the service can do without: after a failure it is left alone
for RETRY_AFTER_SECONDS, so an outage costs one timeout now and then, not one a request."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_AFTER_SECONDS = 5.0


class Outage:
    def __init__(self, what: str):
        self.what, self._down_until = what, 0.0

    def call(self, action: Callable[[], T], fallback: Callable[[], T]) -> T:
        """`action`'s result, or `fallback`'s while the dependency is down."""
        if time.monotonic() < self._down_until:
            return fallback()
        try:
            return action()
        except Exception as error:  # fail open: a fault here must never fail the request
            self._down_until = time.monotonic() + RETRY_AFTER_SECONDS
            log.warning("%s unavailable, doing without for %ss: %s", self.what, RETRY_AFTER_SECONDS, error)
            return fallback()
