"""API authentication: the `api-key` header (as the original service) or `Authorization: Bearer`.

Each process remembers a verified key for REMEMBER_SECONDS: a busy client then costs a database
query every two seconds instead of one a request (that query was most of a cached answer's cost).
So a revoked key stops working within two seconds on every worker, and at once on the worker
that revoked it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from flask import current_app, request

from src.application.use_cases.accounts import hash_key

REMEMBER_SECONDS = 2.0
VALID_LATELY_SECONDS = 600.0  # such a key is still verified while its address is refused
MAX_REMEMBERED = 10_000  # keys; past it the memory starts over rather than grow without bound


class VerifiedKeys:
    """Presented keys the account use cases accepted lately, by hash, with their identity."""

    def __init__(self, verify: Callable[[str | None], str]):
        self._verify = verify  # raises Unauthorized for a missing, unknown or revoked key
        self._known: dict[str, tuple[str, float]] = {}  # key hash: (identity, monotonic time verified)

    def remembered(self, presented: str | None) -> str | None:
        """The identity of a key verified in the last REMEMBER_SECONDS, without asking the
        database; else None."""
        identity, verified_at = self._known.get(_digest(presented), ("", -math.inf))
        return identity if time.monotonic() - verified_at < REMEMBER_SECONDS else None

    def valid_lately(self, presented: str | None) -> bool:
        return time.monotonic() - self._known.get(_digest(presented), ("", -math.inf))[1] < VALID_LATELY_SECONDS

    def identity(self, presented: str | None) -> str:
        identity = self.remembered(presented)
        if identity is not None:
            return identity
        identity = self._verify(presented)
        if len(self._known) >= MAX_REMEMBERED:
            self._known.clear()
        self._known[_digest(presented)] = (identity, time.monotonic())
        return identity

    def forget(self, key_hash: str) -> None:
        self._known.pop(key_hash, None)


def _digest(presented: str | None) -> str:
    return hash_key(presented) if presented else ""


def verified_keys() -> VerifiedKeys:
    return current_app.extensions["verified_keys"]  # type: ignore[no-any-return]


def presented_api_key() -> str | None:
    key = request.headers.get("api-key")
    if key:
        return key.strip()
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials else None
