"""Readiness names each dependency and, when one fails, the kind of failure (never its message,
which may hold a connection string)."""

from __future__ import annotations

from src.application.use_cases.health import HealthUseCases
from tests.unit.fakes import FakeCache, FakeUnitOfWork


class Down:
    def __init__(self, error: Exception):
        self.error = error

    def __call__(self) -> None:
        raise self.error


def test_readiness_is_ok_for_each_dependency_that_answers():
    assert HealthUseCases(FakeUnitOfWork(), FakeCache()).readiness() == {"database": "ok", "cache": "ok"}


def test_a_failing_dependency_is_named_with_the_kind_of_its_failure_only():
    uow, cache = FakeUnitOfWork(), FakeCache()
    uow.ping = Down(ConnectionRefusedError("connection refused"))  # type: ignore[method-assign]
    assert HealthUseCases(uow, cache).readiness() == {"database": "unavailable: ConnectionRefusedError", "cache": "ok"}
    cache.ping = Down(TimeoutError("redis"))  # type: ignore[method-assign]
    readiness = HealthUseCases(FakeUnitOfWork(), cache).readiness()
    assert readiness == {"database": "ok", "cache": "unavailable: TimeoutError"}
