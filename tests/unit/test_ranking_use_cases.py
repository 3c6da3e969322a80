from datetime import timedelta

import pytest

from src.application.domain.errors import Conflict, InvalidParameter, NotFound
from src.application.domain.model import Endpoint, Run, RunSource, RunStatus
from src.application.domain.ranking import GroupBy, Scope, Window
from src.application.ports.telemetry import NoTelemetry
from src.application.services import ranking
from src.application.use_cases.quotas import Quotas
from src.application.use_cases.rankings import RankingUseCases
from src.application.use_cases.simulation import SimulationSettings, SimulationUseCases
from tests.unit.fakes import FakeCache, FakeTaskQueue, FixedClock, seeded_uow


@pytest.fixture
def world():
    uow, cache, clock = seeded_uow(), FakeCache(), FixedClock()
    simulations = SimulationUseCases(
        uow, FakeTaskQueue(), cache, clock, SimulationSettings(samples_per_pair=300), NoTelemetry(), Quotas()
    )
    return RankingUseCases(uow, clock), simulations, clock


def test_with_no_completed_run_the_ranking_is_empty_and_says_why(world):
    metrics, _, _ = world
    ranking = metrics.rank_metric("TTFT")
    assert ranking.selection is None and ranking.entries == ()
    assert metrics.rank_overall().entries == ()


def test_the_default_ranking_reads_the_latest_completed_run(world):
    metrics, simulations, clock = world
    simulations.run_now(seed=1)
    clock.advance(timedelta(minutes=5))
    latest = simulations.run_now(seed=2)
    ranking = metrics.rank_metric("TTFT")
    assert ranking.selection.run.id == latest.id and ranking.selection.runs == 1
    assert ranking.selection.first_finished_at == ranking.selection.last_finished_at == latest.finished_at
    assert len(ranking.entries) == 12 and ranking.entries[0].statistics.n == 300


def test_a_window_pools_every_run_finished_in_it(world):
    metrics, simulations, clock = world
    simulations.run_now(seed=1)
    clock.advance(timedelta(days=2))
    simulations.run_now(seed=2)
    simulations.run_now(seed=3)
    day = metrics.rank_metric("TPS", scope=Scope(window=Window.DAY))
    assert day.selection.runs == 2 and day.entries[0].statistics.n == 600
    assert metrics.rank_metric("TPS", scope=Scope(window=Window.ALL)).entries[0].statistics.n == 900


def test_a_new_run_replaces_the_latest_at_once(world):
    metrics, simulations, _ = world
    first = simulations.run_now(seed=1)
    assert metrics.rank_metric("TTFT").selection.run.id == first.id
    second = simulations.run_now(seed=2)
    assert metrics.rank_metric("TTFT").selection.run.id == second.id


def test_unknown_or_missing_metric_names_list_the_valid_ones(world):
    metrics, _, _ = world
    for name in ("", "ttft", "TTFT; DROP TABLE"):
        with pytest.raises(InvalidParameter) as error:
            metrics.rank_metric(name)
        assert error.value.choices == ["TTFT", "TPS", "e2e_latency", "RPS"]


def test_a_run_that_is_unknown_or_unfinished_cannot_be_ranked(world):
    metrics, simulations, _ = world
    with pytest.raises(NotFound):
        metrics.rank_metric("TTFT", scope=Scope(run_id=42))
    queued = simulations.queue(seed=1)
    with pytest.raises(Conflict):
        metrics.rank_metric("TTFT", scope=Scope(run_id=queued.id))


@pytest.mark.parametrize("weights", [{"XYZ": 1.0}, {"TTFT": -1.0}, {"TTFT": 0, "TPS": 0, "RPS": 0, "e2e_latency": 0}])
def test_bad_weights_are_refused(world, weights):
    metrics, _, _ = world
    with pytest.raises(InvalidParameter):
        metrics.rank_overall(weights=weights)


def test_a_zero_weight_leaves_a_metric_out_of_the_overall_score(world):
    metrics, simulations, _ = world
    simulations.run_now(seed=1)
    only_ttft = metrics.rank_overall(weights={"TPS": 0, "e2e_latency": 0, "RPS": 0})
    ttft = metrics.rank_metric("TTFT")
    assert only_ttft.entries[0].subject.name == ttft.entries[0].subject.name
    assert set(only_ttft.entries[0].by_metric) == {"TTFT"}
    assert only_ttft.source is RunSource.SIMULATED


def three_runs_five_minutes_apart(simulations, clock):
    runs = []
    for seed in range(3):
        runs.append(simulations.run_now(seed=seed))
        clock.advance(timedelta(minutes=5))
    return runs


def by_name(history):
    return {subject.name: points for subject, points in history.series.items()}


def test_history_gives_one_point_per_run_per_llm_oldest_first(world):
    metrics, simulations, clock = world
    runs = three_runs_five_minutes_apart(simulations, clock)
    history = metrics.history("TTFT", window=Window.DAY)
    assert len(history.series) == 12
    assert [p.run_id for p in by_name(history)["GPT-4o"]] == [r.id for r in runs]
    with pytest.raises(InvalidParameter):
        metrics.history("TTFT", window=Window.LATEST)


def test_the_run_selector_lists_recent_completed_runs_of_one_source_newest_first(world):
    metrics, simulations, clock = world
    runs = three_runs_five_minutes_apart(simulations, clock)
    simulations.queue(seed=9)  # not completed: not listed
    assert [(r.id, endpoint) for r, endpoint in metrics.recent_runs(2)] == [(runs[2].id, None), (runs[1].id, None)]
    assert metrics.recent_runs(5, RunSource.MEASURED) == []
    # A measured run is told with the endpoint it measured: a page lists several endpoints' runs.
    metrics.uow.store.endpoints.append(Endpoint("fast", 1, "http://127.0.0.1:9/v1", "m", None, clock.now(), id=7))
    measured = Run(seed=1, samples_per_pair=5, created_at=clock.now(), source=RunSource.MEASURED,
                   status=RunStatus.COMPLETED, finished_at=clock.now(), endpoint_id=7, id=100)  # fmt: skip
    metrics.uow.store.runs[100] = measured
    assert [(r.id, endpoint) for r, endpoint in metrics.recent_runs(5, RunSource.MEASURED)] == [(100, "fast")]


def test_the_metric_catalogue_is_the_stores_not_the_json_file(world):
    metrics, _, _ = world
    metrics.uow.store.metrics = [m for m in metrics.uow.store.metrics if m.name != "RPS"]
    with pytest.raises(InvalidParameter) as refused:
        metrics.rank_metric("RPS")
    assert refused.value.choices == ["TTFT", "TPS", "e2e_latency"]
    assert [m.name for m in metrics.metrics()] == ["TTFT", "TPS", "e2e_latency"]
    assert set(metrics.rank_overall().weights) == {"TTFT", "TPS", "e2e_latency"}


@pytest.mark.parametrize(
    "window, span",
    [
        (Window.DAY, timedelta(hours=24)),
        (Window.THREE_DAYS, timedelta(hours=72)),
        (Window.WEEK, timedelta(days=7)),
        (Window.MONTH, timedelta(days=30)),
    ],
)
def test_a_window_starts_on_the_hour_its_span_ago(world, window, span):
    metrics, simulations, clock = world
    clock.advance(timedelta(minutes=30))  # from noon on the hour
    simulations.run_now(seed=1, samples_per_pair=10)  # finishes at 12:30
    clock.advance(span + timedelta(minutes=29, seconds=59))  # the window starts at 12:00
    assert metrics.rank_metric("TTFT", scope=Scope(window=window)).selection.runs == 1
    clock.advance(timedelta(seconds=1))  # now at 13:00
    assert metrics.rank_metric("TTFT", scope=Scope(window=window)).selection is None


def test_an_unknown_method_and_a_history_without_a_period_are_refused_with_the_choices(world):
    metrics, _, _ = world
    with pytest.raises(InvalidParameter, match=r"^unknown method 'borda'$") as refused:
        metrics.rank_overall(method="borda")
    assert refused.value.choices == ["winrate"]
    with pytest.raises(InvalidParameter, match=r"^history needs a period$") as refused:
        metrics.history("TTFT", window=Window.LATEST)
    assert refused.value.choices == ["24h", "72h", "7d", "30d", "all"]


def test_the_data_version_changes_when_a_run_finishes_and_not_otherwise(world):
    """Queued runs show in no cached answer (run lists are not cached), finished ones do."""
    rankings, simulations, _ = world
    versions = [rankings.data_version()]
    run = simulations.queue(seed=1, samples_per_pair=20)
    versions.append(rankings.data_version())
    simulations.execute(run.id)
    versions += [rankings.data_version(), rankings.data_version()]
    failing = simulations.queue(seed=2, samples_per_pair=20)
    simulations.uow.store.runs[failing.id].fail(simulations.clock.now(), "lost")
    versions.append(rankings.data_version())
    assert versions[0] == versions[1] != versions[2] == versions[3] != versions[4]


def test_a_windows_statistics_are_its_runs_pooled_as_clusters_read_from_two_rollups(world):
    metrics, simulations, clock = world
    simulations.run_now(seed=1)  # two days before the window: left out
    clock.advance(timedelta(days=2))
    runs = three_runs_five_minutes_apart(simulations, clock)
    clock.advance(timedelta(hours=3))
    ttft = next(m for m in metrics.metrics() if m.name == "TTFT")
    window = {e.subject.name: e.statistics for e in metrics.rank_metric("TTFT", scope=Scope(window=Window.DAY)).entries}
    with metrics.uow:
        llms = {llm.id: llm.name for llm in metrics.uow.catalogue.llms()}
        summaries = [s for run in runs for s in metrics.uow.summaries.for_runs([run.id], [ttft.id])]
    for llm_id, name in llms.items():
        direct = ranking.combine(ttft, [s for s in summaries if s.llm_id == llm_id])
        assert (window[name].n, window[name].p95) == (direct.n, direct.p95)
        assert window[name].mean == pytest.approx(direct.mean, rel=1e-12)
        got, expected = window[name].intervals, direct.intervals
        # Moments subtracted from rollups match the direct ones to rounding, as the bounds they set.
        for field in ("p50", "p90", "p99", "mean"):
            for side in ("low", "high"):
                bound, direct_bound = getattr(got[field], side), getattr(expected[field], side)
                assert bound == (None if direct_bound is None else pytest.approx(direct_bound, rel=1e-9))


def test_a_window_of_one_run_keeps_that_runs_exact_statistics(world):
    metrics, simulations, clock = world
    simulations.run_now(seed=1)
    clock.advance(timedelta(days=2))
    latest = simulations.run_now(seed=2)
    day = metrics.rank_metric("TTFT", scope=Scope(window=Window.DAY)).entries
    one = {e.subject.name: e.statistics for e in metrics.rank_metric("TTFT", scope=Scope(run_id=latest.id)).entries}
    assert all(e.statistics == one[e.subject.name] and not e.statistics.sketched for e in day)


def test_pruning_old_rollups_changes_no_window(world):
    metrics, simulations, clock = world
    for days in (0, 10, 31, 1, 1):  # runs on days 0, 10, 41, 42 and 43
        clock.advance(timedelta(days=days))
        simulations.run_now(seed=days, samples_per_pair=20)
    windows = [Window.DAY, Window.WEEK, Window.MONTH, Window.ALL]
    before = [metrics.rank_metric("TTFT", scope=Scope(window=w)).entries[0].statistics for w in windows]
    with metrics.uow:
        rows = sum(len(hours) for hours in metrics.uow.store.rollups.values())
    simulations.purge_expired_samples()
    with metrics.uow:
        assert sum(len(hours) for hours in metrics.uow.store.rollups.values()) < rows  # day 0's hour went
    after = [metrics.rank_metric("TTFT", scope=Scope(window=w)).entries[0].statistics for w in windows]
    assert [(s.n, s.mean) for s in after] == [(s.n, s.mean) for s in before]


def test_a_refused_metric_name_is_quoted_shortened_and_an_empty_catalogue_says_to_seed(world):
    metrics, _, _ = world
    with pytest.raises(InvalidParameter, match=r"^metric_name is required$"):
        metrics.rank_metric("")
    with pytest.raises(InvalidParameter, match=r"^unknown metric_name 'x{50}'$"):
        metrics.rank_metric("x" * 80)
    metrics.uow.store.metrics = []
    with pytest.raises(NotFound, match=r"^the catalogue is empty: run `flask seed`$"):
        metrics.rank_metric("TTFT")


def test_a_refused_run_is_named_with_its_status(world):
    metrics, simulations, _ = world
    with pytest.raises(NotFound, match=r"^run 42 does not exist$"):
        metrics.rank_metric("TTFT", scope=Scope(run_id=42))
    queued = simulations.queue(seed=1)
    with pytest.raises(Conflict, match=rf"^run {queued.id} is queued: rankings use completed runs only$"):
        metrics.rank_overall(scope=Scope(run_id=queued.id))


def test_overall_weights_default_to_ttft_and_tps_and_refuse_what_is_not_a_finite_weight(world):
    metrics, _, _ = world
    assert metrics.rank_overall().weights == {"TTFT": 1.0, "TPS": 1.0, "e2e_latency": 0.0, "RPS": 0.0}
    assert metrics.rank_overall(weights={"RPS": 2}).weights == {"TTFT": 1.0, "TPS": 1.0, "e2e_latency": 0.0,
                                                                 "RPS": 2.0}  # fmt: skip
    for weight in (float("nan"), float("inf"), -0.5):
        with pytest.raises(InvalidParameter, match=r"^weights must be finite numbers of 0 or more$"):
            metrics.rank_overall(weights={"TTFT": weight})
    with pytest.raises(InvalidParameter, match=r"^unknown metric in weights: XYZ, ttft$") as refused:
        metrics.rank_overall(weights={"ttft": 1.0, "XYZ": 1.0})
    assert refused.value.choices == ["TTFT", "TPS", "e2e_latency", "RPS"]
    with pytest.raises(InvalidParameter, match=r"^at least one weight must be above 0$"):
        metrics.rank_overall(weights={"TTFT": 0, "TPS": 0})


def test_grouping_simulated_runs_by_endpoint_names_group_by_and_its_one_choice(world):
    metrics, simulations, _ = world
    simulations.run_now(seed=1, samples_per_pair=20)
    with pytest.raises(
        InvalidParameter,
        match=r"^simulated runs have no endpoints: group_by=endpoint ranks measured runs \(source=measured\)$",
    ) as refused:
        metrics.rank_metric("TTFT", scope=Scope(group_by=GroupBy.ENDPOINT))
    assert (refused.value.parameter, refused.value.choices) == ("group_by", ["llm"])


def test_history_keeps_the_newest_runs_up_to_its_limit_and_a_series_for_every_llm(world):
    metrics, simulations, clock = world
    runs = three_runs_five_minutes_apart(simulations, clock)
    history = metrics.history("TTFT", window=Window.DAY, limit=2)
    assert [p.run_id for p in by_name(history)["GPT-4o"]] == [runs[1].id, runs[2].id]
    assert [p.finished_at for p in by_name(history)["GPT-4o"]] == [runs[1].finished_at, runs[2].finished_at]
    assert (history.metric.name, history.window) == ("TTFT", Window.DAY)
    measured = metrics.history("TTFT", window=Window.ALL, source=RunSource.MEASURED)
    assert measured.series == {}  # a series an endpoint, and there is none
