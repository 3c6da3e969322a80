"""Quotas on the work one caller may ask for: runs waiting at once, and per rolling day the
samples simulated, the benchmark requests sent and the output tokens they may ask for.

Checked when a run is queued, in the unit of work that adds it; the schedule and the command line
count against none. Two requests of one key racing each other may each pass a check the pair
would not; the rate limit bounds how many can race.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from src.application.domain.catalogue import load_catalogue
from src.application.domain.errors import QuotaExceeded
from src.application.domain.model import Caller, Run
from src.application.ports.unit_of_work import AbstractUnitOfWork

QUOTA_PERIOD = timedelta(days=1)


@dataclass(frozen=True)
class Quotas:
    queued_runs: int = 3  # queued or running at once
    samples_per_day: int = 10_000_000
    benchmark_requests_per_day: int = 2_000  # warm-up requests included
    benchmark_tokens_per_day: int = 1_000_000  # output tokens asked for (requests x max_tokens)


@dataclass(frozen=True)
class Work:
    """What a run costs, in the units the quotas count."""

    samples: int = 0
    requests: int = 0
    tokens: int = 0

    def __add__(self, other: Work) -> Work:
        return Work(self.samples + other.samples, self.requests + other.requests, self.tokens + other.tokens)


def simulation_work(samples_per_pair: int) -> Work:
    catalogue = load_catalogue()
    return Work(samples=samples_per_pair * len(catalogue.profiles) * len(catalogue.metrics))


def benchmark_work(requests: int, warmup: int, max_tokens: int, prompt_tokens: int) -> Work:
    """Requests sent, warm-ups included, and tokens: the output asked of each and every prompt's."""
    return Work(requests=requests + warmup, tokens=(requests + warmup) * max_tokens + prompt_tokens)


def work_of(run: Run) -> Work:
    if run.samples_per_pair is not None:  # a simulated run
        return simulation_work(run.samples_per_pair)
    plan = run.plan
    return benchmark_work(
        plan["requests"], plan.get("warmup", 0), plan.get("max_tokens", 0), plan.get("prompt_tokens", 0)
    )


def enforce_quotas(uow: AbstractUnitOfWork, caller: Caller, quotas: Quotas, now: datetime, asked: Work) -> None:
    """Raises QuotaExceeded naming the first quota that `asked` would pass."""
    if not caller.limited:
        return
    counted = _counted_together(uow, caller)
    waiting = uow.runs.unfinished_count(counted)
    if waiting >= quotas.queued_runs:
        raise QuotaExceeded("queued_runs", quotas.queued_runs, waiting, 1)
    used = sum((work_of(run) for run in uow.runs.requested_since(counted, now - QUOTA_PERIOD)), Work())
    for quota, limit, spent, more in (
        ("samples_per_day", quotas.samples_per_day, used.samples, asked.samples),
        ("benchmark_requests_per_day", quotas.benchmark_requests_per_day, used.requests, asked.requests),
        ("benchmark_tokens_per_day", quotas.benchmark_tokens_per_day, used.tokens, asked.tokens),
    ):
        if more and spent + more > limit:
            raise QuotaExceeded(quota, limit, spent, more)


def _counted_together(uow: AbstractUnitOfWork, caller: Caller) -> list[str]:
    """Whose runs count against the caller's quotas: those of every key its account has had, revoked
    ones too (a new key is no new allowance), or the key's own without an account."""
    if caller.account is None:
        return [caller.identity]
    return [key.identity for key in uow.api_keys.for_user(caller.account)]
