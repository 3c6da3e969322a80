from datetime import timedelta

import numpy as np
import pytest

from src.application.domain.errors import Forbidden, InvalidParameter, NotFound, ServiceUnavailable
from src.application.domain.model import Caller, Role, RunSource, RunStatus
from src.application.ports.telemetry import AbstractTelemetry
from src.application.use_cases.quotas import Quotas
from src.application.use_cases.run_lifecycle import Failed
from src.application.use_cases.simulation import SimulationSettings, SimulationUseCases
from tests.unit.fakes import FakeCache, FakeTaskQueue, FakeUnitOfWork, FixedClock, seeded_uow


def simulations(uow=None, queue=None, quotas=None, **settings):
    uow = uow or seeded_uow()
    cache = FakeCache()
    use_cases = SimulationUseCases(
        uow,
        queue or FakeTaskQueue(),
        cache,
        FixedClock(),
        SimulationSettings(**settings),
        RecordingTelemetry(),
        quotas or Quotas(),
    )
    return use_cases, uow, cache


class RecordingTelemetry(AbstractTelemetry):
    def __init__(self):
        self.finished = []
        self.seconds = []

    def run_finished(self, status, sample_count, seconds):
        self.finished.append((status, sample_count))
        self.seconds.append(seconds)


def test_the_telemetry_hears_of_every_run_that_ends():
    use_cases, _, _ = simulations(uow=seeded_uow(fail_samples_after=60), samples_per_pair=10)
    use_cases.run_now(seed=1)
    with pytest.raises(OSError):
        use_cases.run_now(seed=2)
    assert use_cases.lifecycle.telemetry.finished == [
        (RunStatus.COMPLETED, 12 * (3 * 10 + 1)),
        (RunStatus.FAILED, 0),
    ]  # RPS: one a run
    assert all(0 <= seconds < 60 for seconds in use_cases.lifecycle.telemetry.seconds)  # how long each took


def test_executing_a_run_that_does_not_exist_is_not_found_by_its_id():
    use_cases, _, _ = simulations()
    with pytest.raises(NotFound, match=r"^run 999 does not exist$"):
        use_cases.execute(999)


def test_a_run_stores_every_sample_and_a_summary_per_pair_then_invalidates_the_cache():
    use_cases, uow, cache = simulations(samples_per_pair=100)
    run = use_cases.run_now(seed=1)
    assert run.status is RunStatus.COMPLETED and run.source is RunSource.SIMULATED
    assert run.endpoint_id is None and run.details == {"concurrency": 16}  # the default load
    assert run.sample_count == 12 * (3 * 100 + 1)  # RPS is one value per run
    assert uow.store.runs[run.id].status is RunStatus.COMPLETED
    with uow:
        assert uow.samples.count(run.id) == run.sample_count == 3612
        assert len(uow.summaries.for_runs([run.id])) == 48
    assert cache.changes == 1


def test_samples_and_summaries_are_identical_whatever_the_chunk_size():
    stored = []
    for chunk_size in (7, 100, 1000):
        use_cases, uow, _ = simulations(samples_per_pair=250, chunk_size=chunk_size)
        run = use_cases.run_now(seed=99)
        with uow:
            values = uow.samples.values(run.id, uow.store.llms[0].id, uow.store.metrics[0].id)
            summaries = [(s.mean, s.p99) for s in uow.summaries.for_runs([run.id])]
        stored.append((values.tobytes(), summaries))
    assert stored[0] == stored[1] == stored[2]
    assert len(np.frombuffer(stored[0][0])) == 250


def test_a_failing_run_is_marked_failed_and_leaves_no_samples_or_summaries():
    use_cases, uow, cache = simulations(uow=seeded_uow(fail_samples_after=10), samples_per_pair=50)
    run = use_cases.queue(seed=1)
    with pytest.raises(OSError, match="disk full"):
        use_cases.execute(run.id)
    stored = uow.store.runs[run.id]
    assert stored.status is RunStatus.FAILED and "disk full" in stored.error
    assert uow.store.samples == [] and uow.store.summaries == []
    assert cache.changes == 1  # a failed run shows in run lists and pages


def test_executing_a_completed_run_again_changes_nothing():
    use_cases, uow, _ = simulations(samples_per_pair=20)
    run = use_cases.run_now(seed=3)
    commits = uow.commits
    again = use_cases.execute(run.id)
    assert again.status is RunStatus.COMPLETED
    assert uow.commits == commits
    assert len(uow.store.summaries) == 48


def test_a_schedule_tick_fired_twice_for_one_slot_makes_one_run_and_one_task():
    queue = FakeTaskQueue()
    use_cases, uow, _ = simulations(queue=queue)
    first = use_cases.tick("2026-11-27T12:05Z")
    second = use_cases.tick("2026-11-27T12:05Z")
    assert first.id == second.id
    assert queue.enqueued == [first.id]
    assert len(uow.store.runs) == 1


def test_a_run_the_broker_cannot_take_is_failed_not_left_queued():
    use_cases, uow, _ = simulations(queue=FakeTaskQueue(fail=ServiceUnavailable("broker down")))
    with pytest.raises(ServiceUnavailable):
        use_cases.request(seed=1)
    (run,) = uow.store.runs.values()
    assert run.status is RunStatus.FAILED


def test_scheduled_runs_draw_fresh_seeds_unless_one_is_fixed():
    use_cases, _, _ = simulations()
    assert use_cases.queue().seed != use_cases.queue().seed
    fixed, _, _ = simulations(fixed_seed=1234)
    assert fixed.queue().seed == fixed.queue().seed == 1234


@pytest.mark.parametrize("samples_per_pair, seed", [(1, None), (2_000_001, None), (10, -1)])
def test_out_of_range_parameters_are_refused(samples_per_pair, seed):
    use_cases, _, _ = simulations()
    with pytest.raises(InvalidParameter):
        use_cases.queue(seed=seed, samples_per_pair=samples_per_pair)


def test_an_unknown_run_is_not_found():
    use_cases, _, _ = simulations()
    with pytest.raises(NotFound):
        use_cases.execute(404)


def test_a_run_is_found_by_its_id_and_an_unknown_one_is_named():
    use_cases, _, _ = simulations(samples_per_pair=10)
    run = use_cases.run_now(seed=1)
    assert use_cases.get(run.id).status is RunStatus.COMPLETED
    with pytest.raises(NotFound, match=r"^run 404 does not exist$"):
        use_cases.get(404)


def test_a_refused_run_names_the_parameter_and_a_reader_cannot_start_one():
    use_cases, _, _ = simulations()
    with pytest.raises(InvalidParameter, match=r"^concurrency ") as refused:
        use_cases.queue(concurrency=1_000_000)
    assert refused.value.parameter == "concurrency"
    with pytest.raises(Forbidden, match=r"^starting a simulation needs the role"):
        use_cases.queue(caller=Caller("key:7", Role.READER))


def test_the_load_a_run_was_queued_with_shapes_its_samples():
    """RPS is the concurrency over the mean latency: a run of 64 at a time draws far more than one of 1."""
    use_cases, uow, _ = simulations(samples_per_pair=50)
    alone, loaded = use_cases.run_now(seed=1, concurrency=1), use_cases.run_now(seed=1, concurrency=64)
    with uow:
        rps = {m.id for m in uow.catalogue.metrics() if m.name == "RPS"}
        means = [sum(s.mean for s in uow.summaries.for_runs([run.id]) if s.metric_id in rps) for run in (alone, loaded)]
    assert means[1] > 10 * means[0] > 0
    # A run queued before runs had a load was drawn one request at a time.
    older = use_cases.queue(seed=1)
    uow.store.runs[older.id].details = None
    use_cases.execute(older.id)
    with uow:
        summaries = [uow.summaries.for_runs([run.id]) for run in (alone, older)]
    assert [s.mean for s in summaries[0]] == [s.mean for s in summaries[1]]


def test_progress_counts_the_llms_done_up_to_all_of_them():
    use_cases, uow, _ = simulations(samples_per_pair=10)
    heard = []
    use_cases.run_now(seed=1, progress=lambda done, total: heard.append((done, total)))
    assert heard == [(done, 12) for done in range(1, 13)] and len(uow.store.llms) == 12


def test_runs_abandoned_by_a_lost_task_are_failed_by_the_reaper():
    use_cases, uow, _ = simulations()
    stale = use_cases.queue(seed=1)
    use_cases.clock.advance(timedelta(hours=2))
    fresh = use_cases.queue(seed=2)
    assert use_cases.fail_stale_runs() == 1
    assert uow.store.runs[stale.id].status is RunStatus.FAILED
    assert uow.store.runs[fresh.id].status is RunStatus.QUEUED


def test_retention_removes_old_days_of_samples_and_keeps_summaries():
    use_cases, uow, _ = simulations(samples_per_pair=10, retention_days=7)
    old = use_cases.run_now(seed=1)
    use_cases.clock.advance(timedelta(days=8))
    new = use_cases.run_now(seed=2)
    assert use_cases.purge_expired_samples() == 1
    with uow:
        assert uow.samples.count(old.id) == 0
        assert uow.samples.count(new.id) == 372
        assert len(uow.summaries.for_runs([old.id])) == 48


def test_a_run_on_an_unseeded_store_fails_saying_to_seed_the_catalogue():
    use_cases, uow, _ = simulations(uow=FakeUnitOfWork(), samples_per_pair=10)
    unseeded = (
        r"^the catalogue is not seeded \(missing GPT-4o, Llama 3.1 405B, Mistral Large 2, \.\.\.\): run `flask seed`$"
    )
    with pytest.raises(NotFound, match=unseeded):
        use_cases.run_now(seed=1)
    assert next(iter(uow.store.runs.values())).error.startswith("NotFound: the catalogue is not seeded")
    use_cases, uow, _ = simulations(samples_per_pair=10)
    uow.store.metrics = [m for m in uow.store.metrics if m.name != "RPS"]
    with pytest.raises(NotFound, match=r"^the catalogue is not seeded \(missing RPS, \.\.\.\)"):
        use_cases.run_now(seed=1)


def test_completed_simulations_are_written_one_at_a_time():
    use_cases, uow, _ = simulations(samples_per_pair=10)
    use_cases.run_now(seed=1)
    use_cases.run_now(seed=2)
    assert uow.store.simulation_locks == 2


def test_a_runs_summaries_are_read_by_llm_then_metric_in_catalogue_order():
    use_cases, uow, _ = simulations(samples_per_pair=10)
    run = use_cases.run_now(seed=1)
    table = use_cases.summaries(run.id)
    assert list(table) == [llm.name for llm in uow.store.llms]
    assert all(list(row) == ["TTFT", "TPS", "e2e_latency", "RPS"] for row in table.values())
    assert table["GPT-4o"]["TTFT"].n == 10 and table["GPT-4o"]["TTFT"].run_id == run.id
    with pytest.raises(NotFound, match=r"^run 99 does not exist$"):
        use_cases.summaries(99)


def test_a_run_failed_by_the_reaper_stays_failed_when_its_message_arrives_late():
    use_cases, uow, cache = simulations(samples_per_pair=10)
    late = use_cases.queue(seed=1)
    use_cases.clock.advance(timedelta(hours=2))
    use_cases.fail_stale_runs()
    run = use_cases.execute(late.id)
    assert run.status is RunStatus.FAILED and run.error.startswith("abandoned")
    with uow:
        assert uow.summaries.for_runs([late.id]) == [] and uow.samples.count(late.id) == 0
    assert cache.changes == 0


@pytest.mark.parametrize("samples_per_pair, accepted", [(1, False), (2, True), (2_000_000, True), (2_000_001, False)])
def test_samples_per_pair_keep_to_2_and_2_million(samples_per_pair, accepted):
    use_cases, _, _ = simulations()
    if accepted:
        assert use_cases.queue(samples_per_pair=samples_per_pair).samples_per_pair == samples_per_pair
        return
    with pytest.raises(
        InvalidParameter, match=rf"^samples_per_pair must be between 2 and 2000000, got {samples_per_pair}$"
    ):
        use_cases.queue(samples_per_pair=samples_per_pair)


@pytest.mark.parametrize("seed, accepted", [(-1, False), (0, True), (2**63 - 1, True), (2**63, False)])
def test_seeds_are_63_bit(seed, accepted):
    use_cases, _, _ = simulations()
    if accepted:
        assert use_cases.queue(seed=seed).seed == seed
        return
    with pytest.raises(InvalidParameter, match=rf"^seed must be between 0 and {2**63 - 1}, got {seed}$"):
        use_cases.queue(seed=seed)


def test_the_default_simulation_settings_are_the_documented_ones():
    settings = SimulationSettings()
    assert (settings.samples_per_pair, settings.chunk_size, settings.fixed_seed, settings.retention_days) == (
        1000, 100_000, None, 7,
    )  # fmt: skip
    assert settings.stale_after == timedelta(hours=1)


def test_a_failed_run_keeps_the_details_it_had_beside_those_of_its_failure():
    use_cases, uow, _ = simulations()
    run = use_cases.queue(seed=1)
    with uow:
        uow.runs.get(run.id).details = {"plan": {"requests": 3}}
        uow.commit()
    failed = use_cases.lifecycle.execute(run.id, RunSource.SIMULATED, lambda _: Failed("no luck", {"errors": {"x": 3}}))
    assert (failed.status, failed.error) == (RunStatus.FAILED, "no luck")
    assert failed.details == {"plan": {"requests": 3}, "errors": {"x": 3}}
