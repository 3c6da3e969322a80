"""Simulation runs against real PostgreSQL: atomic, reproducible, one at a time, expiring."""

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import text

from src.application.domain.model import Interval, RunStatus
from src.application.ports.clock import Clock
from src.application.ports.unit_of_work import AbstractUnitOfWork
from src.application.use_cases import simulation as simulation_module
from src.application.use_cases.simulation import SimulationUseCases
from src.infrastructure.database import db


class ShiftedClock(Clock):
    def __init__(self, shift: timedelta):
        self.shift = shift

    def now(self) -> datetime:
        return datetime.now(UTC) + self.shift


@pytest.fixture
def injector(clean_app):
    return clean_app.extensions["injector"]


def simulations(injector, clock: Clock | None = None, **settings) -> SimulationUseCases:
    use_cases = injector.get(SimulationUseCases)
    use_cases.settings = replace(use_cases.settings, **settings)
    if clock:
        use_cases.clock = clock
    return use_cases


def scalar(app, sql: str):
    with app.app_context(), db.engine.connect() as connection:
        return connection.execute(text(sql)).scalar()


def row(app, sql: str) -> tuple:
    with app.app_context(), db.engine.connect() as connection:
        return tuple(connection.execute(text(sql)).one())


def test_a_completed_run_has_every_sample_and_summaries_that_match_them(injector, clean_app):
    use_cases = simulations(injector, samples_per_pair=500, chunk_size=128)
    run = use_cases.run_now(seed=2026)
    assert run.status is RunStatus.COMPLETED and run.sample_count == 12 * (3 * 500 + 1)  # RPS: one value a run
    uow = injector.get(AbstractUnitOfWork)
    with uow:
        assert uow.samples.count(run.id) == run.sample_count
        metrics = {m.id: m for m in uow.catalogue.metrics()}
        for summary in uow.summaries.for_runs([run.id]):
            values = uow.samples.values(run.id, summary.llm_id, summary.metric_id)
            if metrics[summary.metric_id].name == "RPS":  # one value a run: nothing bounds it alone
                assert summary.n == values.size == 1 and summary.mean == values[0]
                assert not any(interval.sufficient for interval in summary.intervals.values())
                continue
            assert summary.n == values.size == 500
            assert summary.mean == pytest.approx(values.mean(), rel=1e-12)
            tails = [100 * metrics[summary.metric_id].raw_quantile(q) for q in (0.5, 0.9, 0.95, 0.99)]
            assert [summary.p50, summary.p90, summary.p95, summary.p99] == pytest.approx(
                np.percentile(values, tails), rel=1e-12
            )  # the slow tail: TPS reads its 10th, 5th and 1st percentiles
            ordered = np.sort(values)
            low, high = (464, 484) if tails[2] == 95 else (17, 37)  # ranks of 500 for the 95th and 5th
            assert summary.intervals["p95"] == Interval(ordered[low - 1], ordered[high - 1])
            assert all(interval.sufficient for interval in summary.intervals.values())  # 500 >= 299 for p99


def test_the_same_seed_stores_bit_identical_samples_whatever_the_chunk_size(injector):
    uow = injector.get(AbstractUnitOfWork)
    stored = []
    for chunk_size in (64, 1000):
        run = simulations(injector, samples_per_pair=300, chunk_size=chunk_size).run_now(seed=77)
        with uow:
            stored.append(b"".join(uow.samples.values(run.id, llm, metric).tobytes()
                                   for llm in (1, 6, 12) for metric in (1, 2, 3, 4)))  # fmt: skip
    assert stored[0] == stored[1]


def test_a_run_that_fails_midway_is_marked_failed_and_leaves_no_samples(injector, clean_app, monkeypatch):
    real_draw = simulation_module.draw_llm_samples
    calls = []

    def failing_draw(*args, **kwargs):
        calls.append(1)
        if len(calls) == 6:
            raise MemoryError("out of memory halfway")
        return real_draw(*args, **kwargs)

    monkeypatch.setattr(simulation_module, "draw_llm_samples", failing_draw)
    use_cases = simulations(injector, samples_per_pair=200)
    run = use_cases.queue(seed=1)
    with pytest.raises(MemoryError):
        use_cases.execute(run.id)
    assert use_cases.get(run.id).status is RunStatus.FAILED
    assert scalar(clean_app, "SELECT count(*) FROM samples") == 0
    assert scalar(clean_app, "SELECT count(*) FROM metric_summaries") == 0


def test_readers_never_see_a_run_half_written(injector, clean_app):
    use_cases = simulations(injector, samples_per_pair=400_000, chunk_size=50_000)
    run = use_cases.queue(seed=5)
    worker = threading.Thread(target=use_cases.execute, args=(run.id,))
    worker.start()
    seen = set()
    while worker.is_alive():
        # One statement, so the three answers come from one snapshot of the database.
        seen.add(
            row(
                clean_app,
                f"SELECT status, EXISTS (SELECT FROM samples WHERE run_id = {run.id}),"
                f" EXISTS (SELECT FROM metric_summaries WHERE run_id = {run.id})"
                f" FROM simulation_runs WHERE id = {run.id}",
            )
        )
        time.sleep(0.02)
    worker.join()
    assert ("running", False, False) in seen
    assert seen <= {("queued", False, False), ("running", False, False), ("completed", True, True)}
    assert scalar(clean_app, f"SELECT sum(n) FROM samples WHERE run_id = {run.id}") == 12 * (3 * 400_000 + 1)


def test_two_workers_racing_for_one_run_store_it_once(injector, clean_app):
    run = simulations(injector, samples_per_pair=20_000).queue(seed=8)
    errors = []

    def execute():
        try:
            simulations(injector, samples_per_pair=20_000).execute(run.id)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    workers = [threading.Thread(target=execute) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert scalar(clean_app, "SELECT sum(n) FROM samples") == 12 * (3 * 20_000 + 1)
    assert scalar(clean_app, "SELECT count(*) FROM metric_summaries") == 48


def test_a_schedule_tick_fired_twice_makes_one_run(injector, clean_app):
    use_cases = simulations(injector)
    use_cases.task_queue = type("NoQueue", (), {"enqueue_simulation": lambda self, run_id: None})()
    first, second = use_cases.tick("2026-11-27T12:05Z"), use_cases.tick("2026-11-27T12:05Z")
    assert first.id == second.id
    assert scalar(clean_app, "SELECT count(*) FROM simulation_runs") == 1


def test_retention_drops_old_daily_partitions_and_keeps_summaries(injector, clean_app):
    old = simulations(injector, ShiftedClock(timedelta(days=-10)), samples_per_pair=50).run_now(seed=1)
    new = simulations(injector, samples_per_pair=50).run_now(seed=2)
    partitions_before = scalar(clean_app, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'samples'::regclass")
    assert partitions_before == 2
    assert simulations(injector).purge_expired_samples() == 1
    assert scalar(clean_app, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'samples'::regclass") == 1
    assert scalar(clean_app, f"SELECT count(*) FROM samples WHERE run_id = {old.id}") == 0
    assert scalar(clean_app, f"SELECT sum(n) FROM samples WHERE run_id = {new.id}") == 12 * (3 * 50 + 1)
    assert scalar(clean_app, f"SELECT count(*) FROM metric_summaries WHERE run_id = {old.id}") == 48
