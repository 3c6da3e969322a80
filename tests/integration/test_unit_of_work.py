"""The SQLAlchemy unit of work against real PostgreSQL: commit, rollback, conflicts."""

from datetime import UTC, datetime, timedelta

import pytest

from src.adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from src.application.domain.errors import Conflict
from src.application.domain.model import Endpoint, Run, RunSource, RunStatus
from src.application.ports.unit_of_work import AbstractUnitOfWork

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
def uow(clean_app) -> SqlAlchemyUnitOfWork:
    return clean_app.extensions["injector"].get(AbstractUnitOfWork)


def test_committed_work_is_visible_to_the_next_unit_of_work(uow):
    with uow:
        uow.runs.add(Run(seed=1, samples_per_pair=10, created_at=NOW, slot="a"))
        uow.commit()
    with uow:
        (run,) = uow.runs.list(10, 0)
        assert (run.seed, run.status, run.created_at) == (1, RunStatus.QUEUED, NOW)


def test_uncommitted_work_is_rolled_back(uow):
    with uow:
        uow.runs.add(Run(seed=1, samples_per_pair=10, created_at=NOW))
    with uow:
        assert uow.runs.count() == 0


def test_work_is_rolled_back_when_an_error_escapes(uow):
    with pytest.raises(RuntimeError), uow:
        uow.runs.add(Run(seed=1, samples_per_pair=10, created_at=NOW))
        uow.session.flush()
        raise RuntimeError("the use case failed")
    with uow:
        assert uow.runs.count() == 0


def test_a_taken_slot_is_a_conflict_and_the_first_run_stays(uow):
    with uow:
        uow.runs.add(Run(seed=1, samples_per_pair=10, created_at=NOW, slot="12:05"))
        uow.commit()
    with pytest.raises(Conflict), uow:
        uow.runs.add(Run(seed=2, samples_per_pair=10, created_at=NOW, slot="12:05"))
        uow.commit()
    with uow:
        assert uow.runs.get_by_slot("12:05").seed == 1


def test_objects_stay_readable_after_their_unit_of_work_closes(uow):
    with uow:
        llms = uow.catalogue.llms()
    assert len(llms) == 12 and llms[0].name == "GPT-4o"


def test_each_unit_of_work_gets_its_own_session_and_closes_it(uow):
    with uow:
        first = uow.session
    with uow:
        second = uow.session
    assert first is not second
    assert not first.in_transaction()


def test_each_endpoints_newest_runs_are_read_apart_from_the_others(uow):
    """The latest measured ranking and the endpoints' statuses read each endpoint's own newest
    runs: a busy endpoint's runs never push a quiet one's out."""
    with uow:
        llm_id = uow.catalogue.llms()[0].id
        for name in ("busy", "quiet", "never"):
            uow.endpoints.add(Endpoint(name, llm_id, "http://127.0.0.1:9/v1", "m", None, NOW))
        uow.session.flush()
        ids = {e.name: e.id for e in uow.endpoints.list()}

        def measured(endpoint: str, hours_ago: float, **fields) -> None:
            finished = NOW - timedelta(hours=hours_ago)
            uow.runs.add(Run(seed=1, created_at=finished, source=RunSource.MEASURED,
                             status=RunStatus.COMPLETED, finished_at=finished, endpoint_id=ids[endpoint],
                             details={"plan": {}}, **fields))  # fmt: skip

        measured("quiet", 30)
        measured("quiet", 20)
        measured("quiet", 1, invalid="client-bound")  # never read
        for hour in range(10):
            measured("busy", hour)
        uow.commit()
    with uow:
        newest = uow.runs.newest_of_each_endpoint()
        assert [(r.endpoint_id, r.finished_at) for r in newest] == [
            (ids["busy"], NOW), (ids["quiet"], NOW - timedelta(hours=20))
        ]  # fmt: skip
        recent = uow.runs.recent_of_each_endpoint(NOW - timedelta(hours=24), limit=3)
        assert [(r.endpoint_id, (NOW - r.finished_at).total_seconds() / 3600) for r in recent] == [
            (ids["busy"], 0), (ids["busy"], 1), (ids["busy"], 2), (ids["quiet"], 20)
        ]  # fmt: skip
