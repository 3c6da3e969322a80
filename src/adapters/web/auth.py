"""API authentication: the `api-key` header (as the original service) or `Authorization: Bearer`.

Each process remembers a verified key for REMEMBER_SECONDS: a busy client then costs a database
query every two seconds instead of one a request (that query was most of a cached answer's cost).
So a revoked key stops working within two seconds on every worker, and at once on the worker
that revoked it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import current_app, g, request
from sqlalchemy.exc import InterfaceError, OperationalError

from src.application.domain.model import Caller
from src.application.use_cases.accounts import hash_key

REMEMBER_SECONDS = 2.0
VALID_LATELY_SECONDS = 600.0  # such a key is still verified while its address is refused
MAX_REMEMBERED = 10_000  # keys; past it the memory starts over rather than grow without bound


class VerifiedKeys:
    """Presented keys verified lately, by hash. While the database is unreachable, a key verified
    in the last VALID_LATELY_SECONDS still works, so cached answers are served through an outage."""

    def __init__(self, verify: Callable[[str | None], Caller]):
        self._verify = verify  # raises Unauthorized for a missing, unknown or revoked key
        self._known: dict[str, tuple[Caller, float]] = {}  # key hash: (caller, monotonic time verified)

    def valid_lately(self, presented: str | None) -> bool:
        return self._verified_within(presented, VALID_LATELY_SECONDS) is not None

    def caller(self, presented: str | None) -> Caller:
        if known := self._verified_within(presented, REMEMBER_SECONDS):
            return known
        try:
            caller = self._verify(presented)
        except (OperationalError, InterfaceError):
            if known := self._verified_within(presented, VALID_LATELY_SECONDS):
                return known
            raise
        if len(self._known) >= MAX_REMEMBERED:
            self._known.clear()
        self._known[_digest(presented)] = (caller, time.monotonic())
        return caller

    def forget(self, key_hash: str) -> None:
        self._known.pop(key_hash, None)

    def _verified_within(self, presented: str | None, seconds: float) -> Caller | None:
        caller, verified = self._known.get(_digest(presented), (None, 0.0))
        return caller if time.monotonic() - verified < seconds else None


def _digest(presented: str | None) -> str:
    return hash_key(presented) if presented else ""


def caller() -> Caller:
    """Who sent this API request (the gate verified its key before the view)."""
    return g.caller  # type: ignore[no-any-return]


def verified_keys() -> VerifiedKeys:
    return current_app.extensions["verified_keys"]  # type: ignore[no-any-return]


def presented_api_key() -> str | None:
    key = request.headers.get("api-key")
    if key:
        return key.strip()
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials else None
