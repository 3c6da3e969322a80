"""The unit of work: one transaction, its repositories, rolled back unless committed."""

from __future__ import annotations

import abc
from typing import Self

from src.application.ports.repositories import (
    AbstractApiKeyRepository,
    AbstractCampaignRepository,
    AbstractCatalogueRepository,
    AbstractEndpointRepository,
    AbstractPromptSetRepository,
    AbstractRollupRepository,
    AbstractRunRepository,
    AbstractSampleRepository,
    AbstractSummaryRepository,
    AbstractSweepRepository,
    AbstractTimelineRepository,
    AbstractUserRepository,
)


class AbstractUnitOfWork(abc.ABC):
    catalogue: AbstractCatalogueRepository
    endpoints: AbstractEndpointRepository
    runs: AbstractRunRepository
    sweeps: AbstractSweepRepository
    campaigns: AbstractCampaignRepository
    summaries: AbstractSummaryRepository
    rollups: AbstractRollupRepository
    samples: AbstractSampleRepository
    timelines: AbstractTimelineRepository
    prompt_sets: AbstractPromptSetRepository
    users: AbstractUserRepository
    api_keys: AbstractApiKeyRepository

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *args: object) -> None:
        self.rollback()

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise when the store cannot be reached."""
