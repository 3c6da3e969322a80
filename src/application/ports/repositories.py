"""Repository ports: what the core needs from storage, in domain terms."""

from __future__ import annotations

import abc
from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

import numpy as np

from src.application.domain.model import (
    LLM,
    ApiKey,
    Campaign,
    Endpoint,
    Metric,
    MetricSummary,
    Run,
    RunSource,
    RunStatus,
    Sweep,
    User,
)
from src.application.domain.ranking import Statistic
from src.application.domain.rollup import Rollup, Series


class AbstractCatalogueRepository(abc.ABC):
    @abc.abstractmethod
    def llms(self) -> list[LLM]: ...

    @abc.abstractmethod
    def metrics(self) -> list[Metric]: ...

    @abc.abstractmethod
    def add(self, item: LLM | Metric) -> None: ...


class AbstractSweepRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, sweep: Sweep) -> None: ...

    @abc.abstractmethod
    def get(self, sweep_id: int) -> Sweep | None: ...

    @abc.abstractmethod
    def of_endpoint(self, endpoint_id: int, limit: int) -> list[Sweep]:
        """The endpoint's newest sweeps, newest first."""


class AbstractCampaignRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, campaign: Campaign) -> None:
        """Add it and give it its id at once, for its runs."""

    @abc.abstractmethod
    def get(self, campaign_id: int) -> Campaign | None: ...


class RunFilter(NamedTuple):
    """Which runs a list holds: each criterion given narrows it."""

    status: RunStatus | None = None
    endpoint_id: int | None = None
    source: RunSource | None = None


EVERY_RUN = RunFilter()


class AbstractRunRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, run: Run) -> None: ...

    @abc.abstractmethod
    def get(self, run_id: int) -> Run | None: ...

    @abc.abstractmethod
    def get_many(self, run_ids: Collection[int]) -> list[Run]:
        """Those of the runs that exist, in one read, in no particular order."""

    @abc.abstractmethod
    def get_for_update(self, run_id: int) -> Run | None:
        """Load and lock the run until the unit of work ends, so two workers never both run it."""

    @abc.abstractmethod
    def lock_simulations(self) -> None:
        """Wait for, then hold until the unit of work ends, the lock that lets one run execute."""

    @abc.abstractmethod
    def get_by_slot(self, slot: str) -> Run | None: ...

    @abc.abstractmethod
    def of_sweep(self, sweep_id: int) -> list[Run]:
        """A sweep's stages, in the order they ran."""

    @abc.abstractmethod
    def of_campaign(self, campaign_id: int) -> list[Run]:
        """A campaign's runs, in the order they were queued."""

    @abc.abstractmethod
    def completed_recent(
        self, since: datetime | None, limit: int, source: RunSource | None = None, endpoint_id: int | None = None
    ) -> list[Run]:
        """The newest `limit` runs completed since `since` (of that endpoint, when given), newest
        first, leaving out runs marked invalid."""

    @abc.abstractmethod
    def recent_of_each_endpoint(self, since: datetime, limit: int) -> list[Run]:
        """Each endpoint's newest `limit` runs completed since `since` (measured runs), newest
        first, leaving out runs marked invalid and sweeps' stages."""

    @abc.abstractmethod
    def newest_of_each_endpoint(self) -> list[Run]:
        """Each endpoint's newest completed run (a measured run), newest first, leaving out runs
        marked invalid and sweeps' stages."""

    @abc.abstractmethod
    def newest_finished_of_each_endpoint(self) -> list[Run]:
        """Each endpoint's newest finished run (completed or failed, valid or not) outside sweeps,
        newest first."""

    @abc.abstractmethod
    def unfinished_before(self, deadline: datetime) -> list[Run]:
        """Runs still queued or running that were created before the deadline."""

    @abc.abstractmethod
    def unfinished_count(self, requested_by: Collection[str]) -> int:
        """How many runs these callers asked for are still queued or running."""

    @abc.abstractmethod
    def requested_since(self, requested_by: Collection[str], since: datetime) -> list[Run]:
        """The runs these callers asked for since `since`, whatever became of them."""

    @abc.abstractmethod
    def latest(self, status: RunStatus, source: RunSource | None = None) -> Run | None:
        """The newest run of that status (and source), leaving out runs marked invalid."""

    @abc.abstractmethod
    def list(self, limit: int, offset: int, only: RunFilter = EVERY_RUN) -> list[Run]:
        """A page of the runs `only` lets through, newest first."""

    @abc.abstractmethod
    def count(self, only: RunFilter = EVERY_RUN) -> int: ...

    @abc.abstractmethod
    def data_version(self) -> str:
        """Changes whenever a run finishes (completed or failed) or an LLM is added: cached answers
        are kept under it."""


class AbstractSummaryRepository(abc.ABC):
    @abc.abstractmethod
    def add_all(self, summaries: Sequence[MetricSummary]) -> None: ...

    @abc.abstractmethod
    def for_runs(self, run_ids: Collection[int], metric_ids: Collection[int] | None = None) -> list[MetricSummary]:
        """These runs' summaries, of these metrics only (of every metric when None)."""

    @abc.abstractmethod
    def statistic_by_run(
        self, run_ids: Sequence[int], metric_id: int, statistic: Statistic
    ) -> list[tuple[int, int, float]]:
        """(run id, LLM id, value) of one stored statistic: trends need no sketches."""


class RunsSince(NamedTuple):
    """How many runs of a series completed from some hour on, when the first and last of them
    finished, the last's id (the series' newest run), and the two hours whose rollups hold the
    window's totals (domain/rollup.py): the series' newest run hour, and its last run hour before
    the window (None: no run before it, or no window start)."""

    number: int
    first: datetime
    last: datetime
    run_id: int
    newest_hour: datetime
    start_hour: datetime | None


class AbstractRollupRepository(abc.ABC):
    """Each pair's running totals per series of runs and hour (domain/rollup.py), written with the runs."""

    @abc.abstractmethod
    def include(self, series: Series, run: Run, summaries: Sequence[MetricSummary]) -> None:
        """Count a run that completes now in the totals of its series, at the hour it finished."""

    @abc.abstractmethod
    def totals(
        self, series: Mapping[Series, RunsSince], metric_ids: Collection[int] | None = None
    ) -> dict[tuple[Series, int, int], tuple[Rollup, Rollup | None]]:
        """By (series, LLM id, metric id), for each pair (of these metrics; all when None) of these
        series (as `runs` found them): the totals over all its runs, and over those that finished
        before the window (None: there are none, or no window start)."""

    @abc.abstractmethod
    def runs(self, source: RunSource, since: datetime | None = None) -> dict[Series, RunsSince]:
        """Each series of the source with runs completed from the hour `since` on (ever, when
        None): how many, and when (runs marked invalid are never counted)."""

    @abc.abstractmethod
    def prune_before(self, hour: datetime) -> int:
        """Drop the rows before `hour` that no window starting at it or later reads (all but each
        pair's and series' last row before it); returns how many went."""


class AbstractSampleRepository(abc.ABC):
    """Raw samples: written in bulk, kept for audit, removed after the retention period."""

    @abc.abstractmethod
    def add_batch(
        self, run_id: int, llm_id: int, metric_id: int, chunk: int, values: np.ndarray, recorded_on: date
    ) -> None:
        """Store chunk number `chunk` of a pair's samples, in the order they were drawn."""

    @abc.abstractmethod
    def count(self, run_id: int | None = None) -> int: ...

    @abc.abstractmethod
    def values(self, run_id: int, llm_id: int, metric_id: int) -> np.ndarray:
        """Every stored sample of one pair, in the order they were drawn."""

    @abc.abstractmethod
    def purge_before(self, day: date) -> int:
        """Remove samples recorded before `day`; returns how many whole days were removed."""


class AbstractTimelineRepository(abc.ABC):
    """Each measured run's requests as they happened (services/timelines.py), kept as long as raw
    samples."""

    @abc.abstractmethod
    def add(self, run_id: int, records: list[dict[str, Any]], recorded_on: date) -> None: ...

    @abc.abstractmethod
    def get(self, run_id: int) -> list[dict[str, Any]] | None:
        """The run's records in the order they were sent; None if it kept none."""

    @abc.abstractmethod
    def purge_before(self, day: date) -> int:
        """Remove the records of runs recorded before `day`; returns how many runs' went."""


class AbstractPromptSetRepository(abc.ABC):
    """Given prompts (a JSONL file's), kept once by their digest (services/plans.py prompts_digest)
    for the runs whose plans name them."""

    @abc.abstractmethod
    def add(self, digest: str, prompts: tuple[str, ...]) -> None:
        """Keeps them, unless they are kept already."""

    @abc.abstractmethod
    def get(self, digest: str) -> tuple[str, ...] | None: ...


class AbstractEndpointRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, endpoint: Endpoint) -> None: ...

    @abc.abstractmethod
    def get(self, endpoint_id: int) -> Endpoint | None: ...

    @abc.abstractmethod
    def get_by_name(self, name: str) -> Endpoint | None: ...

    @abc.abstractmethod
    def list(self) -> list[Endpoint]: ...

    @abc.abstractmethod
    def remove(self, endpoint: Endpoint) -> None:
        """Removed when the unit of work commits; Conflict then if runs or sweeps refer to it."""


class AbstractUserRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, user: User) -> None: ...

    @abc.abstractmethod
    def get(self, user_id: int) -> User | None: ...

    @abc.abstractmethod
    def get_by_email(self, email: str) -> User | None: ...

    @abc.abstractmethod
    def list(self) -> list[User]: ...


class AbstractApiKeyRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, key: ApiKey) -> None: ...

    @abc.abstractmethod
    def get(self, key_id: int) -> ApiKey | None: ...

    @abc.abstractmethod
    def get_by_hash(self, key_hash: str) -> ApiKey | None: ...

    @abc.abstractmethod
    def for_user(self, user_id: int) -> list[ApiKey]:
        """The user's keys, newest first."""

    @abc.abstractmethod
    def list(self) -> list[ApiKey]:
        """Every key, newest first."""
