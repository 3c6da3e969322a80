"""Rollups on PostgreSQL: written with each run, in any order, and rebuilt by migration 0005."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from src.adapters.persistence import orm
from src.adapters.persistence.rollups import rebuild
from src.application.domain.model import Run, RunSource, RunStatus
from src.application.domain.rollup import Rollup
from src.application.ports.unit_of_work import AbstractUnitOfWork
from src.application.services.statistics import summarize
from src.infrastructure.database import db

NOON = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
def uow(clean_app):
    return clean_app.extensions["injector"].get(AbstractUnitOfWork)


def complete(uow, finished_at, mean, source=RunSource.SIMULATED, llm_index=0):
    """A completed run of one pair (an LLM, the first by default, on TTFT), counted in the rollups."""
    with uow:
        llm, ttft = uow.catalogue.llms()[llm_index], uow.catalogue.metrics()[0]
        run = Run(seed=1, samples_per_pair=200, created_at=finished_at, source=source)
        uow.runs.add(run)
        uow.session.flush()
        values = np.random.default_rng(int(mean * 100)).lognormal(np.log(mean), 0.3, 200)
        summary = summarize(run.id, llm.id, ttft, values)
        uow.summaries.add_all([summary])
        run.status, run.finished_at, run.sample_count = RunStatus.COMPLETED, finished_at, 200
        uow.rollups.include(run, [summary])
        uow.commit()
        return (llm.id, ttft.id), summary


def same(a: Rollup, b: Rollup) -> bool:
    arrays = all(getattr(a, name).tolist() == getattr(b, name).tolist() for name in ("counts", "squares", "crosses"))
    moments = a.values.mean == pytest.approx(b.values.mean) and a.values.m2 == pytest.approx(b.values.m2)
    return (a.runs, a.last_run_id, a.offset, a.size_squares) == (b.runs, b.last_run_id, b.offset, b.size_squares) and (
        arrays and moments
    )


def test_each_hours_row_totals_every_run_before_its_end_whatever_order_runs_complete_in(uow):
    pair, first = complete(uow, NOON + timedelta(minutes=10), 1.0)
    _, third = complete(uow, NOON + timedelta(hours=2), 1.4)
    _, second = complete(uow, NOON + timedelta(minutes=50), 1.2)  # late: the 14:00 row counts it too
    with uow:
        newest, before_two = uow.rollups.totals(RunSource.SIMULATED, since=NOON + timedelta(hours=2))[pair]
        assert uow.rollups.totals(RunSource.SIMULATED, since=NOON)[pair][1] is None
        assert uow.rollups.totals(RunSource.MEASURED) == {}
        counts = [
            uow.rollups.runs(RunSource.SIMULATED, since).number for since in (None, NOON, NOON + timedelta(hours=1))
        ]
        assert counts == [3, 3, 1] and uow.rollups.runs(RunSource.MEASURED) == (0, None, None)
        assert uow.rollups.runs(RunSource.SIMULATED, NOON + timedelta(hours=1))[1:] == (NOON + timedelta(hours=2),) * 2
        assert uow.rollups.runs(RunSource.SIMULATED)[1:] == (NOON + timedelta(minutes=10), NOON + timedelta(hours=2))
    assert same(before_two, Rollup.merge([first, second]))
    assert same(newest, Rollup.merge([first, second, third]))  # and its newest run is still the third
    assert same(newest - before_two, Rollup.of(third))


def test_rebuilding_gives_the_rows_the_runs_wrote_as_they_completed(uow, clean_app):
    pair, _ = complete(uow, NOON, 1.0)
    complete(uow, NOON + timedelta(minutes=30), 1.1)
    complete(uow, NOON + timedelta(hours=1, minutes=5), 0.9)
    complete(uow, NOON + timedelta(minutes=20), 2.0, RunSource.MEASURED)
    one_oclock = NOON + timedelta(hours=1)
    with uow:
        written = {source: uow.rollups.totals(source, since=one_oclock)[pair] for source in RunSource}
        counted = [uow.rollups.runs(source, since).number for source in RunSource for since in (None, one_oclock)]
    with clean_app.app_context(), db.engine.begin() as connection:
        assert rebuild(connection) == 3  # two simulated hours, one measured
    with uow:
        rebuilt = {source: uow.rollups.totals(source, since=one_oclock)[pair] for source in RunSource}
        assert [
            uow.rollups.runs(source, since).number for source in RunSource for since in (None, one_oclock)
        ] == counted
    assert counted == [3, 1, 1, 0]
    for source in RunSource:
        assert all(same(mine, theirs) for mine, theirs in zip(rebuilt[source], written[source], strict=True))


def test_a_pair_left_out_of_later_runs_keeps_its_totals_in_every_window_that_holds_its_runs(uow, clean_app):
    pair, first = complete(uow, NOON + timedelta(minutes=10), 1.0)
    other, second = complete(uow, NOON + timedelta(hours=2), 1.3, llm_index=1)  # the first LLM left out
    late_pair, late = complete(uow, NOON + timedelta(minutes=40), 1.1, llm_index=2)  # a first run, counted late
    since = NOON + timedelta(hours=1)

    def windows():
        with uow:
            return [uow.rollups.totals(RunSource.SIMULATED, since=at) for at in (since, NOON + timedelta(hours=3))]

    written = windows()
    with clean_app.app_context(), db.engine.begin() as connection:
        assert rebuild(connection) == 5  # at 12:00 the first and the late LLM; at 14:00 all three
    for from_one, from_three in (written, windows()):
        assert set(from_one) == {pair, other, late_pair}
        assert same(from_one[pair][0], Rollup.of(first)) and same(from_one[pair][1], Rollup.of(first))
        assert same(from_one[late_pair][0], Rollup.of(late)) and same(from_one[late_pair][1], Rollup.of(late))
        assert same(from_one[other][0], Rollup.of(second)) and from_one[other][1] is None
        assert all(same(total, before) for total, before in from_three.values())  # no run since 15:00


def test_pruning_keeps_each_pairs_last_row_before_the_cutoff_and_every_row_after_it(uow):
    pair, _ = complete(uow, NOON, 1.0)
    complete(uow, NOON + timedelta(hours=1), 1.1)
    complete(uow, NOON + timedelta(hours=3), 1.2)
    cutoff = NOON + timedelta(hours=2)
    with uow:
        kept = uow.rollups.totals(RunSource.SIMULATED, since=cutoff)[pair]
        assert uow.rollups.prune_before(cutoff) == 2  # the noon hour's rollup and run count
        uow.commit()
    with uow:
        hours = uow.session.scalars(select(orm.rollups.c.hour).order_by(orm.rollups.c.hour)).all()
        assert hours == [NOON + timedelta(hours=1), NOON + timedelta(hours=3)]
        again = uow.rollups.totals(RunSource.SIMULATED, since=cutoff)[pair]
        assert all(same(a, b) for a, b in zip(again, kept, strict=True))
        assert [uow.rollups.runs(RunSource.SIMULATED, since).number for since in (None, cutoff)] == [3, 1]
