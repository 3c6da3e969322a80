"""The SQLAlchemy unit of work: a fresh session per `with`, closed on exit, committed on request."""

from __future__ import annotations

from typing import Self

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from src.adapters.persistence.repositories import (
    SqlAlchemyApiKeyRepository,
    SqlAlchemyCampaignRepository,
    SqlAlchemyCatalogueRepository,
    SqlAlchemyEndpointRepository,
    SqlAlchemyPromptSetRepository,
    SqlAlchemyRunRepository,
    SqlAlchemySummaryRepository,
    SqlAlchemySweepRepository,
    SqlAlchemyUserRepository,
)
from src.adapters.persistence.rollups import SqlAlchemyRollupRepository
from src.adapters.persistence.samples import PostgresSampleRepository, SqlSampleRepository
from src.adapters.persistence.timelines import SqlAlchemyTimelineRepository
from src.application.domain.errors import Conflict, ServiceUnavailable
from src.application.ports.unit_of_work import AbstractUnitOfWork


class SqlAlchemyUnitOfWork(AbstractUnitOfWork):
    def __init__(self, session_factory: sessionmaker[Session]):
        self.session_factory = session_factory

    def __enter__(self) -> Self:
        self.session = self.session_factory()
        self.catalogue = SqlAlchemyCatalogueRepository(self.session)
        self.endpoints = SqlAlchemyEndpointRepository(self.session)
        self.runs = SqlAlchemyRunRepository(self.session)
        self.sweeps = SqlAlchemySweepRepository(self.session)
        self.campaigns = SqlAlchemyCampaignRepository(self.session)
        self.summaries = SqlAlchemySummaryRepository(self.session)
        self.rollups = SqlAlchemyRollupRepository(self.session)
        self.users = SqlAlchemyUserRepository(self.session)
        self.api_keys = SqlAlchemyApiKeyRepository(self.session)
        is_postgres = self.session.get_bind().dialect.name == "postgresql"
        self.samples = (PostgresSampleRepository if is_postgres else SqlSampleRepository)(self.session)
        self.timelines = SqlAlchemyTimelineRepository(self.session)
        self.prompt_sets = SqlAlchemyPromptSetRepository(self.session)
        return self

    def __exit__(self, *args: object) -> None:
        # close() discards what was not committed without expiring loaded objects, so the
        # domain objects a use case returns stay readable after the session is gone.
        self.session.close()

    def commit(self) -> None:
        try:
            self.session.commit()
        except IntegrityError as error:
            self.session.rollback()
            raise Conflict(str(error.orig)) from error

    def rollback(self) -> None:
        self.session.rollback()

    def ping(self) -> None:
        try:
            with self.session_factory() as session:
                session.execute(text("SELECT 1"))
        except OperationalError as error:
            raise ServiceUnavailable("database unreachable") from error
