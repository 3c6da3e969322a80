"""The composition root: one injector module shared by Flask, Celery and the CLI."""

from __future__ import annotations

from celery import Celery
from injector import Binder, Injector, Module, provider, singleton
from sqlalchemy.orm import Session, sessionmaker

from src.adapters.measurement.addresses import SystemResolver
from src.adapters.measurement.openai_client import EnvironmentSecrets, OpenAIStreamingClient
from src.adapters.measurement.tokenizer import TiktokenTokenizer
from src.adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from src.adapters.tasks.celery_tasks import CeleryTaskQueue
from src.adapters.tasks.inprocess import InProcessTaskQueue
from src.adapters.telemetry.prometheus import PrometheusTelemetry
from src.application.ports.cache import AbstractCache
from src.application.ports.clock import Clock, SystemClock
from src.application.ports.llm_client import AbstractLLMClient, AbstractResolver, AbstractSecrets, AbstractTokenizer
from src.application.ports.task_queue import AbstractTaskQueue
from src.application.ports.telemetry import AbstractTelemetry
from src.application.ports.unit_of_work import AbstractUnitOfWork
from src.application.use_cases.accounts import AccountSettings
from src.application.use_cases.benchmarks import BenchmarkSettings, BenchmarkUseCases
from src.application.use_cases.campaigns import CampaignUseCases
from src.application.use_cases.monitoring import MonitorSettings
from src.application.use_cases.quotas import Quotas
from src.application.use_cases.simulation import SimulationSettings, SimulationUseCases
from src.application.use_cases.sweeps import SweepUseCases
from src.infrastructure.settings import Settings


class JounceModule(Module):
    def __init__(
        self, settings: Settings, session_factory: sessionmaker[Session], cache: AbstractCache, celery: Celery
    ):
        self.settings = settings
        self.session_factory = session_factory
        self.cache = cache
        self.celery = celery
        self.clock = SystemClock()

    def configure(self, binder: Binder) -> None:
        binder.bind(Settings, to=self.settings)
        binder.bind(SimulationSettings, to=self.settings.simulation)
        binder.bind(AbstractCache, to=self.cache)
        binder.bind(Clock, to=self.clock)
        binder.bind(AbstractTelemetry, to=PrometheusTelemetry())
        binder.bind(AbstractLLMClient, to=OpenAIStreamingClient(self.settings.benchmark.allowed_networks))
        binder.bind(AbstractSecrets, to=EnvironmentSecrets())
        binder.bind(AbstractResolver, to=SystemResolver())
        binder.bind(AbstractTokenizer, to=TiktokenTokenizer())
        binder.bind(BenchmarkSettings, to=self.settings.benchmark)
        binder.bind(MonitorSettings, to=self.settings.monitoring)
        binder.bind(Quotas, to=self.settings.quotas)
        binder.bind(AccountSettings, to=AccountSettings(bootstrap_api_key=self.settings.bootstrap_api_key))

    @provider
    def unit_of_work(self) -> AbstractUnitOfWork:
        # A new unit of work per use case; each `with` opens and closes its own session.
        return SqlAlchemyUnitOfWork(self.session_factory)

    @singleton
    @provider
    def task_queue(self, injector: Injector) -> AbstractTaskQueue:
        if self.settings.uses_celery:
            return CeleryTaskQueue(self.celery)
        return InProcessTaskQueue(
            lambda: injector.get(SimulationUseCases),
            lambda: injector.get(BenchmarkUseCases),
            lambda: injector.get(SweepUseCases),
            lambda: injector.get(CampaignUseCases),
        )
