"""Readiness: can this instance serve, and if not, which dependency is missing."""

from __future__ import annotations

from collections.abc import Callable

from injector import inject

from src.application.ports.cache import AbstractCache
from src.application.ports.unit_of_work import AbstractUnitOfWork


class HealthUseCases:
    @inject
    def __init__(self, uow: AbstractUnitOfWork, cache: AbstractCache):
        self.uow = uow
        self.cache = cache

    def readiness(self) -> dict[str, str]:
        """The state of each dependency: "ok", or why it failed."""
        return {"database": _probe(self.uow.ping), "cache": _probe(self.cache.ping)}


def _probe(check: Callable[[], None]) -> str:
    try:
        check()
    except Exception as error:  # any failure means not ready; the message says which
        return f"unavailable: {type(error).__name__}"
    return "ok"
