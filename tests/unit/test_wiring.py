"""The use cases declare what they need, so the injector of the infrastructure can build them:
here from fakes, the ports bound as the container binds the real adapters."""

from __future__ import annotations

import pytest
from injector import Binder, Injector

from src.application.ports.cache import AbstractCache
from src.application.ports.clock import Clock
from src.application.ports.llm_client import AbstractLLMClient, AbstractResolver, AbstractSecrets, AbstractTokenizer
from src.application.ports.task_queue import AbstractTaskQueue
from src.application.ports.telemetry import AbstractTelemetry, NoTelemetry
from src.application.ports.unit_of_work import AbstractUnitOfWork
from src.application.use_cases.accounts import AccountSettings, AccountUseCases
from src.application.use_cases.benchmarks import BenchmarkUseCases
from src.application.use_cases.campaigns import CampaignUseCases
from src.application.use_cases.catalogue import CatalogueUseCases
from src.application.use_cases.health import HealthUseCases
from src.application.use_cases.monitoring import MonitoringUseCases
from src.application.use_cases.rankings import RankingUseCases
from src.application.use_cases.schedules import ScheduledMeasurements
from src.application.use_cases.simulation import SimulationUseCases
from src.application.use_cases.sweeps import SweepUseCases
from tests.unit.fakes import FakeCache, FakeTaskQueue, FakeUnitOfWork, FixedClock
from tests.unit.test_benchmark_use_cases import Resolver, ScriptedClient, Secrets, WordTokenizer

UOW, CLOCK, QUEUE = FakeUnitOfWork(), FixedClock(), FakeTaskQueue()
CLIENT, SECRETS, TOKENIZER = ScriptedClient(), Secrets(), WordTokenizer()


def bind_fakes(binder: Binder) -> None:
    binder.bind(AbstractUnitOfWork, to=UOW)
    binder.bind(Clock, to=CLOCK)
    binder.bind(AbstractTaskQueue, to=QUEUE)
    binder.bind(AbstractCache, to=FakeCache())
    binder.bind(AbstractTelemetry, to=NoTelemetry())
    binder.bind(AbstractLLMClient, to=CLIENT)
    binder.bind(AbstractSecrets, to=SECRETS)
    binder.bind(AbstractResolver, to=Resolver())
    binder.bind(AbstractTokenizer, to=TOKENIZER)
    binder.bind(AccountSettings, to=AccountSettings(bootstrap_api_key="boot"))


@pytest.mark.parametrize(
    "use_cases, wired",
    [
        (AccountUseCases, {"uow": UOW, "clock": CLOCK}),
        (
            BenchmarkUseCases,
            {
                "uow": UOW,
                "client": CLIENT,
                "tokenizer": TOKENIZER,
                "secrets": SECRETS,
                "task_queue": QUEUE,
                "clock": CLOCK,
            },
        ),
        (CatalogueUseCases, {"uow": UOW}),
        (HealthUseCases, {"uow": UOW}),
        (RankingUseCases, {"uow": UOW, "clock": CLOCK}),
        (SimulationUseCases, {"uow": UOW, "task_queue": QUEUE, "clock": CLOCK}),
        (CampaignUseCases, {"uow": UOW, "task_queue": QUEUE, "clock": CLOCK}),
        (MonitoringUseCases, {"uow": UOW, "clock": CLOCK}),
        (SweepUseCases, {"uow": UOW, "task_queue": QUEUE, "clock": CLOCK}),
        (ScheduledMeasurements, {}),  # over the benchmarks and campaigns use cases above
    ],
)
def test_the_injector_builds_each_use_case_from_the_bound_ports(use_cases, wired):
    built = Injector([bind_fakes]).get(use_cases)
    assert {name: getattr(built, name) for name in wired} == wired
