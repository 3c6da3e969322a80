"""Rollups on PostgreSQL: written with each run, in any order, per series of runs, and rebuilt by
migration 0014."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from src.adapters.persistence import orm
from src.adapters.persistence.rollups import rebuild
from src.application.domain.model import Endpoint, Run, RunSource, RunStatus
from src.application.domain.rollup import SIMULATED, Rollup, Series
from src.application.ports.unit_of_work import AbstractUnitOfWork
from src.application.services.plans import plan_key, series_of
from src.application.services.statistics import summarize
from src.infrastructure.database import db

NOON = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
PLAN = {"requests": 200, "max_tokens": 64}  # a plan as a measured run's details hold it (in part)


@pytest.fixture
def uow(clean_app):
    return clean_app.extensions["injector"].get(AbstractUnitOfWork)


def complete(uow, finished_at, mean, endpoint_id=None, plan=PLAN, llm_index=0, invalid=None):
    """A completed run of one pair (an LLM, the first by default, on TTFT), counted in the rollups
    unless invalid: simulated, or measured on an endpoint with a plan."""
    with uow:
        llm, ttft = uow.catalogue.llms()[llm_index], uow.catalogue.metrics()[0]
        if endpoint_id is None:
            run = Run(seed=1, samples_per_pair=200, created_at=finished_at)
        else:
            run = Run(seed=1, created_at=finished_at, source=RunSource.MEASURED, endpoint_id=endpoint_id,
                      details={"plan": plan})  # fmt: skip
        uow.runs.add(run)
        uow.session.flush()
        values = np.random.default_rng(int(mean * 100)).lognormal(np.log(mean), 0.3, 200)
        summary = summarize(run.id, llm.id, ttft, values)
        uow.summaries.add_all([summary])
        run.status, run.finished_at, run.sample_count, run.invalid = RunStatus.COMPLETED, finished_at, 200, invalid
        if invalid is None:
            uow.rollups.include(series_of(run), run, [summary])
        uow.commit()
        return (series_of(run), llm.id, ttft.id), summary


def endpoints(uow, *names):
    with uow:
        llm_id = uow.catalogue.llms()[0].id
        for name in names:
            uow.endpoints.add(Endpoint(name, llm_id, f"http://{name}/v1", "m", None, NOON))
        uow.commit()
        return [e.id for e in sorted(uow.endpoints.list(), key=lambda e: names.index(e.name))]


def window_totals(uow, source, since=None, plan=None):
    """Each pair's totals over the source's series in the window (of one plan when given), read at
    the hours `runs` finds, as rankings read them."""
    series = uow.rollups.runs(source, since)
    return uow.rollups.totals({one: runs for one, runs in series.items() if plan in (None, one.plan_key)})


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
        newest, before_two = window_totals(uow, RunSource.SIMULATED, NOON + timedelta(hours=2))[pair]
        assert window_totals(uow, RunSource.SIMULATED, NOON)[pair][1] is None
        assert window_totals(uow, RunSource.MEASURED) == {}
        windows = {since: uow.rollups.runs(RunSource.SIMULATED, since).get(SIMULATED)
                   for since in (None, NOON, NOON + timedelta(hours=1), NOON + timedelta(hours=3))}  # fmt: skip
        assert uow.rollups.runs(RunSource.MEASURED) == {}
    assert [w.number if w else 0 for w in windows.values()] == [3, 3, 1, 0]
    assert windows[None][1:4] == (NOON + timedelta(minutes=10), NOON + timedelta(hours=2), third.run_id)  # the newest
    assert windows[NOON + timedelta(hours=1)][1:3] == (NOON + timedelta(hours=2),) * 2
    # The hours the window's totals lie at: the newest run's, and the last run hour before it.
    assert windows[NOON + timedelta(hours=1)][4:] == (NOON + timedelta(hours=2), NOON)
    assert windows[None][4:] == (NOON + timedelta(hours=2), None)
    assert same(before_two, Rollup.merge([first, second]))
    assert same(newest, Rollup.merge([first, second, third]))  # and its newest run is still the third
    assert same(newest - before_two, Rollup.of(third))


def test_measured_runs_are_totalled_per_endpoint_and_plan_and_invalid_ones_never(uow, clean_app):
    fast, slow = endpoints(uow, "fast", "slow")
    other = {**PLAN, "requests": 100}
    a, first = complete(uow, NOON + timedelta(minutes=5), 1.0, fast)
    complete(uow, NOON + timedelta(minutes=15), 3.0, fast, invalid="the client was the bottleneck")
    _, second = complete(uow, NOON + timedelta(hours=1, minutes=5), 1.2, fast)
    b, third = complete(uow, NOON + timedelta(hours=1, minutes=10), 2.0, slow)
    c, fourth = complete(uow, NOON + timedelta(hours=2), 1.5, fast, other)
    assert a[0] == Series(RunSource.MEASURED, fast, plan_key(PLAN)) and c[0] == Series(RunSource.MEASURED, fast,
                                                                                         plan_key(other))  # fmt: skip

    def read():
        with uow:
            one_oclock = NOON + timedelta(hours=1)
            return window_totals(uow, RunSource.MEASURED, one_oclock, plan_key(PLAN)), {
                since: uow.rollups.runs(RunSource.MEASURED, since) for since in (None, one_oclock)
            }

    written = read()
    with clean_app.app_context(), db.engine.begin() as connection:
        rebuild(connection)  # the same rows from the runs, the invalid one left out
    for totals, runs in (written, read()):
        assert set(totals) == {a, b}  # of the plan asked for
        assert same(totals[a][0], Rollup.merge([first, second])) and same(totals[a][1], Rollup.of(first))
        assert same(totals[b][0], Rollup.of(third)) and totals[b][1] is None
        assert {one: found[:4] for one, found in runs[None].items()} == {
            a[0]: (2, NOON + timedelta(minutes=5), NOON + timedelta(hours=1, minutes=5), second.run_id),
            b[0]: (1, NOON + timedelta(hours=1, minutes=10), NOON + timedelta(hours=1, minutes=10), third.run_id),
            c[0]: (1, NOON + timedelta(hours=2), NOON + timedelta(hours=2), fourth.run_id),
        }
        assert runs[NOON + timedelta(hours=1)][a[0]][:4] == (
            1,
            *(NOON + timedelta(hours=1, minutes=5),) * 2,
            second.run_id,
        )


def test_rebuilding_gives_the_rows_the_runs_wrote_as_they_completed(uow, clean_app):
    (endpoint,) = endpoints(uow, "only")
    pair, _ = complete(uow, NOON, 1.0)
    complete(uow, NOON + timedelta(minutes=30), 1.1)
    complete(uow, NOON + timedelta(hours=1, minutes=5), 0.9)
    measured, _ = complete(uow, NOON + timedelta(minutes=20), 2.0, endpoint)
    one_oclock = NOON + timedelta(hours=1)

    def read():
        with uow:
            totals = [window_totals(uow, RunSource.SIMULATED, one_oclock), window_totals(uow, RunSource.MEASURED)]
            return totals, [uow.rollups.runs(source, since) for source in RunSource for since in (None, one_oclock)]

    (simulated, of_endpoint), counted = read()
    with clean_app.app_context(), db.engine.begin() as connection:
        assert rebuild(connection) == 3  # two simulated hours, one measured
    (simulated_again, of_endpoint_again), counted_again = read()
    assert counted_again == counted
    assert [sum(w.number for w in windows.values()) for windows in counted] == [3, 1, 1, 0]
    assert all(same(mine, theirs) for mine, theirs in zip(simulated_again[pair], simulated[pair], strict=True))
    assert same(of_endpoint_again[measured][0], of_endpoint[measured][0])


def test_a_pair_left_out_of_later_runs_keeps_its_totals_in_every_window_that_holds_its_runs(uow, clean_app):
    pair, first = complete(uow, NOON + timedelta(minutes=10), 1.0)
    other, second = complete(uow, NOON + timedelta(hours=2), 1.3, llm_index=1)  # the first LLM left out
    late_pair, late = complete(uow, NOON + timedelta(minutes=40), 1.1, llm_index=2)  # a first run, counted late
    since = NOON + timedelta(hours=1)

    def windows():
        with uow:
            return [window_totals(uow, RunSource.SIMULATED, at) for at in (since, NOON + timedelta(hours=3))]

    written = windows()
    with clean_app.app_context(), db.engine.begin() as connection:
        assert rebuild(connection) == 5  # at 12:00 the first and the late LLM; at 14:00 all three
    for from_one, from_three in (written, windows()):
        assert set(from_one) == {pair, other, late_pair}
        assert same(from_one[pair][0], Rollup.of(first)) and same(from_one[pair][1], Rollup.of(first))
        assert same(from_one[late_pair][0], Rollup.of(late)) and same(from_one[late_pair][1], Rollup.of(late))
        assert same(from_one[other][0], Rollup.of(second)) and from_one[other][1] is None
        assert from_three == {}  # no run since 15:00: nothing to read


def test_pruning_keeps_each_pairs_last_row_before_the_cutoff_and_every_row_after_it(uow):
    pair, _ = complete(uow, NOON + timedelta(minutes=10), 1.0)
    complete(uow, NOON + timedelta(hours=1), 1.1)
    complete(uow, NOON + timedelta(hours=3), 1.2)
    cutoff = NOON + timedelta(hours=2)
    with uow:
        kept = window_totals(uow, RunSource.SIMULATED, cutoff)[pair]
        assert uow.rollups.prune_before(cutoff) == 2  # the noon hour's rollup and run count
        uow.commit()
    with uow:
        hours = uow.session.scalars(select(orm.rollups.c.hour).order_by(orm.rollups.c.hour)).all()
        assert hours == [NOON + timedelta(hours=1), NOON + timedelta(hours=3)]
        again = window_totals(uow, RunSource.SIMULATED, cutoff)[pair]
        assert all(same(a, b) for a, b in zip(again, kept, strict=True))
        windows = [uow.rollups.runs(RunSource.SIMULATED, since)[SIMULATED] for since in (None, cutoff)]
    assert [w.number for w in windows] == [3, 1]
    assert windows[0].first == NOON + timedelta(minutes=10)  # the row kept stands for the runs pruned too
