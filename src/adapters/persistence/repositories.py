"""SQLAlchemy repositories: the only place that knows how domain objects are queried."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from src.adapters.persistence import orm
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
from src.application.ports.repositories import (
    EVERY_RUN,
    AbstractApiKeyRepository,
    AbstractCampaignRepository,
    AbstractCatalogueRepository,
    AbstractEndpointRepository,
    AbstractPromptSetRepository,
    AbstractRunRepository,
    AbstractSummaryRepository,
    AbstractSweepRepository,
    AbstractUserRepository,
    RunFilter,
)

# Any constant will do; it names the lock that lets one simulation run at a time.
SIMULATION_LOCK_ID = 0x4A4F554E  # "JOUN"


class SqlAlchemyCatalogueRepository(AbstractCatalogueRepository):
    def __init__(self, session: Session):
        self.session = session

    def llms(self) -> list[LLM]:
        return list(self.session.scalars(select(LLM).order_by(orm.llms.c.id)))

    def metrics(self) -> list[Metric]:
        return list(self.session.scalars(select(Metric).order_by(orm.metrics.c.id)))

    def add(self, item: LLM | Metric) -> None:
        self.session.add(item)


class SqlAlchemyRunRepository(AbstractRunRepository):
    def __init__(self, session: Session):
        self.session = session

    def add(self, run: Run) -> None:
        self.session.add(run)

    def get(self, run_id: int) -> Run | None:
        return self.session.get(Run, run_id)

    def get_many(self, run_ids: Collection[int]) -> list[Run]:
        return list(self.session.scalars(select(Run).where(orm.simulation_runs.c.id.in_(run_ids))))

    def get_for_update(self, run_id: int) -> Run | None:
        return self.session.get(Run, run_id, with_for_update=True, populate_existing=True)

    def lock_simulations(self) -> None:
        # SQLite serialises writers by itself; PostgreSQL needs a transaction-scoped advisory lock.
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": SIMULATION_LOCK_ID})

    def get_by_slot(self, slot: str) -> Run | None:
        return self.session.scalars(select(Run).where(orm.simulation_runs.c.slot == slot)).first()

    def of_sweep(self, sweep_id: int) -> list[Run]:
        runs = orm.simulation_runs.c
        return list(self.session.scalars(select(Run).where(runs.sweep_id == sweep_id).order_by(runs.id)))

    def of_campaign(self, campaign_id: int) -> list[Run]:
        runs = orm.simulation_runs.c
        return list(self.session.scalars(select(Run).where(runs.campaign_id == campaign_id).order_by(runs.id)))

    def latest(self, status: RunStatus, source: RunSource | None = None) -> Run | None:
        return self.session.scalars(
            _of_source(
                select(Run).where(orm.simulation_runs.c.status == status, orm.simulation_runs.c.invalid.is_(None)),
                source,
            )
            .order_by(orm.simulation_runs.c.finished_at.desc(), orm.simulation_runs.c.id.desc())
            .limit(1)
        ).first()

    def list(self, limit: int, offset: int, only: RunFilter = EVERY_RUN) -> list[Run]:
        query = _filtered(select(Run), only).order_by(orm.simulation_runs.c.id.desc())
        return list(self.session.scalars(query.limit(limit).offset(offset)))

    def count(self, only: RunFilter = EVERY_RUN) -> int:
        return self.session.scalar(_filtered(select(func.count()).select_from(Run), only)) or 0

    def data_version(self) -> str:
        # How many runs have finished and when the last did: a database emptied and filled again
        # (a restore, the tests) does not repeat a version.
        # The catalogue's size too: an LLM added shows at once. One round trip for all three.
        runs = orm.simulation_runs.c
        finished = func.count().filter(runs.status.in_([RunStatus.COMPLETED, RunStatus.FAILED]))
        llms = select(func.count()).select_from(orm.llms).scalar_subquery()
        count, last, catalogue = self.session.execute(select(finished, func.max(runs.finished_at), llms)).one()
        return f"{count}.{last}.{catalogue}"

    def completed_recent(
        self, since: datetime | None, limit: int, source: RunSource | None = None, endpoint_id: int | None = None
    ) -> list[Run]:
        query = completed(select(Run), source)
        if since is not None:
            query = query.where(orm.simulation_runs.c.finished_at >= since)
        if endpoint_id is not None:
            query = query.where(orm.simulation_runs.c.endpoint_id == endpoint_id)
        query = query.order_by(orm.simulation_runs.c.finished_at.desc(), orm.simulation_runs.c.id.desc())
        return list(self.session.scalars(query.limit(limit)))

    def recent_of_each_endpoint(self, since: datetime, limit: int) -> list[Run]:
        runs = orm.simulation_runs.c
        newest_first = (runs.finished_at.desc(), runs.id.desc())
        place = func.row_number().over(partition_by=runs.endpoint_id, order_by=newest_first).label("place")
        ranked = completed(select(runs.id, place), RunSource.MEASURED).where(runs.finished_at >= since, OUTSIDE_SWEEPS)
        ranked = ranked.subquery()
        query = select(Run).join(ranked, ranked.c.id == runs.id).where(ranked.c.place <= limit)
        return list(self.session.scalars(query.order_by(*newest_first)))

    def newest_of_each_endpoint(self) -> list[Run]:
        runs = orm.simulation_runs.c
        newest = (
            completed(select(runs.id), RunSource.MEASURED)
            .where(runs.endpoint_id == orm.endpoints.c.id, OUTSIDE_SWEEPS)
            .order_by(runs.finished_at.desc(), runs.id.desc())
            .limit(1)  # from the index on (endpoint_id, finished_at): one row read an endpoint
            .correlate(orm.endpoints)
            .scalar_subquery()
        )
        query = select(Run).where(runs.id.in_(select(newest).select_from(orm.endpoints)))
        return list(self.session.scalars(query.order_by(runs.finished_at.desc(), runs.id.desc())))

    def newest_finished_of_each_endpoint(self) -> list[Run]:
        runs = orm.simulation_runs.c
        newest = (
            select(runs.id)
            .where(runs.endpoint_id == orm.endpoints.c.id, runs.finished_at.is_not(None), OUTSIDE_SWEEPS)
            .order_by(runs.finished_at.desc(), runs.id.desc())
            .limit(1)  # from the index on (endpoint_id, finished_at), as newest_of_each_endpoint
            .correlate(orm.endpoints)
            .scalar_subquery()
        )
        query = select(Run).where(runs.id.in_(select(newest).select_from(orm.endpoints)))
        return list(self.session.scalars(query.order_by(runs.finished_at.desc(), runs.id.desc())))

    def unfinished_count(self, requested_by: Collection[str]) -> int:
        runs = orm.simulation_runs.c
        query = select(func.count()).where(
            runs.requested_by.in_(requested_by), runs.status.in_([RunStatus.QUEUED, RunStatus.RUNNING])
        )
        return int(self.session.scalar(query) or 0)

    def requested_since(self, requested_by: Collection[str], since: datetime) -> list[Run]:
        runs = orm.simulation_runs.c
        query = select(Run).where(runs.requested_by.in_(requested_by), runs.created_at >= since)
        return list(self.session.scalars(query))

    def unfinished_before(self, deadline: datetime) -> list[Run]:
        return list(
            self.session.scalars(
                select(Run)
                .where(
                    orm.simulation_runs.c.status.in_([RunStatus.QUEUED, RunStatus.RUNNING]),
                    orm.simulation_runs.c.created_at < deadline,
                )
                # A run whose row a worker holds is being stored right now: it is alive.
                .with_for_update(skip_locked=True)
            )
        )


class SqlAlchemySummaryRepository(AbstractSummaryRepository):
    def __init__(self, session: Session):
        self.session = session

    def add_all(self, summaries: Sequence[MetricSummary]) -> None:
        self.session.add_all(summaries)

    def for_runs(self, run_ids: Collection[int], metric_ids: Collection[int] | None = None) -> list[MetricSummary]:
        query = select(MetricSummary).where(orm.metric_summaries.c.run_id.in_(run_ids))
        if metric_ids is not None:
            query = query.where(orm.metric_summaries.c.metric_id.in_(metric_ids))
        return list(self.session.scalars(query))

    def statistic_by_run(
        self, run_ids: Sequence[int], metric_id: int, statistic: Statistic
    ) -> list[tuple[int, int, float]]:
        table = orm.metric_summaries
        query = select(table.c.run_id, table.c.llm_id, table.c[statistic.field]).where(
            table.c.run_id.in_(run_ids), table.c.metric_id == metric_id
        )
        return [(run_id, llm_id, value) for run_id, llm_id, value in self.session.execute(query)]


class SqlAlchemySweepRepository(AbstractSweepRepository):
    def __init__(self, session: Session):
        self.session = session

    def add(self, sweep: Sweep) -> None:
        self.session.add(sweep)

    def get(self, sweep_id: int) -> Sweep | None:
        return self.session.get(Sweep, sweep_id)

    def of_endpoint(self, endpoint_id: int, limit: int) -> list[Sweep]:
        sweeps = orm.sweeps.c
        query = select(Sweep).where(sweeps.endpoint_id == endpoint_id).order_by(sweeps.id.desc()).limit(limit)
        return list(self.session.scalars(query))


class SqlAlchemyCampaignRepository(AbstractCampaignRepository):
    def __init__(self, session: Session):
        self.session = session

    def add(self, campaign: Campaign) -> None:
        self.session.add(campaign)
        self.session.flush()  # its id, for its runs

    def get(self, campaign_id: int) -> Campaign | None:
        return self.session.get(Campaign, campaign_id)


class SqlAlchemyEndpointRepository(AbstractEndpointRepository):
    def __init__(self, session: Session):
        self.session = session

    def add(self, endpoint: Endpoint) -> None:
        self.session.add(endpoint)

    def get(self, endpoint_id: int) -> Endpoint | None:
        return self.session.get(Endpoint, endpoint_id)

    def get_by_name(self, name: str) -> Endpoint | None:
        return self.session.scalars(select(Endpoint).where(orm.endpoints.c.name == name)).first()

    def list(self) -> list[Endpoint]:
        return list(self.session.scalars(select(Endpoint).order_by(orm.endpoints.c.name)))

    def remove(self, endpoint: Endpoint) -> None:
        self.session.delete(endpoint)


class SqlAlchemyPromptSetRepository(AbstractPromptSetRepository):
    def __init__(self, session: Session):
        self.session = session

    def add(self, digest: str, prompts: tuple[str, ...]) -> None:
        # Two runs of one file queued at once both add it: the second finds it kept.
        dialect = postgresql if self.session.get_bind().dialect.name == "postgresql" else sqlite
        kept = dialect.insert(orm.prompt_sets).values(sha256=digest, prompts=list(prompts))
        self.session.execute(kept.on_conflict_do_nothing(index_elements=["sha256"]))

    def get(self, digest: str) -> tuple[str, ...] | None:
        found = self.session.scalar(select(orm.prompt_sets.c.prompts).where(orm.prompt_sets.c.sha256 == digest))
        return None if found is None else tuple(found)


class SqlAlchemyUserRepository(AbstractUserRepository):
    def __init__(self, session: Session):
        self.session = session

    def add(self, user: User) -> None:
        self.session.add(user)

    def get(self, user_id: int) -> User | None:
        return self.session.get(User, user_id)

    def get_by_email(self, email: str) -> User | None:
        return self.session.scalars(select(User).where(orm.users.c.email == email)).first()

    def list(self) -> list[User]:
        return list(self.session.scalars(select(User).order_by(orm.users.c.id)))


class SqlAlchemyApiKeyRepository(AbstractApiKeyRepository):
    def __init__(self, session: Session):
        self.session = session

    def add(self, key: ApiKey) -> None:
        self.session.add(key)

    def get(self, key_id: int) -> ApiKey | None:
        return self.session.get(ApiKey, key_id)

    def for_user(self, user_id: int) -> list[ApiKey]:
        query = select(ApiKey).where(orm.api_keys.c.user_id == user_id).order_by(orm.api_keys.c.id.desc())
        return list(self.session.scalars(query))

    def get_by_hash(self, key_hash: str) -> ApiKey | None:
        return self.session.scalars(select(ApiKey).where(orm.api_keys.c.key_hash == key_hash)).first()

    def list(self) -> list[ApiKey]:
        return list(self.session.scalars(select(ApiKey).order_by(orm.api_keys.c.id.desc())))


def _filtered(query: Select[Any], only: RunFilter) -> Select[Any]:
    runs = orm.simulation_runs.c
    if only.status is not None:
        query = query.where(runs.status == only.status)
    if only.endpoint_id is not None:
        query = query.where(runs.endpoint_id == only.endpoint_id)
    return _of_source(query, only.source)


def _of_source(query: Select[Any], source: RunSource | None) -> Select[Any]:
    return query if source is None else query.where(orm.simulation_runs.c.source == source)


# A sweep's stages are its own: one drives its endpoint to saturation (and its client to its limit) on
# purpose, so its last stage is no endpoint's newest run for its status, its failing or the latest ranking.
OUTSIDE_SWEEPS = orm.simulation_runs.c.sweep_id.is_(None)


def completed(query: Select[Any], source: RunSource | None) -> Select[Any]:
    """Completed runs, but for those marked invalid (the rollups' repository reads them so too)."""
    runs = orm.simulation_runs.c
    return _of_source(query.where(runs.status == RunStatus.COMPLETED, runs.invalid.is_(None)), source)
