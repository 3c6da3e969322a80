"""Watching endpoints with fakes: windows of runs, SLO attainment, errors, and the change detector."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from src.application.domain import bounds
from src.application.domain.bounds import Bound
from src.application.domain.errors import NotFound
from src.application.domain.model import SCHEDULE, Caller, Interval, Run, RunSource
from src.application.domain.ranking import Statistic
from src.application.services.changes import CHANGE_LEVEL, MAX_SPLITS, MIN_CHANGE, Estimated, compare_runs
from src.application.services.measures import Slo
from src.application.services.plans import plan_key
from src.application.use_cases import monitoring as monitoring_module
from src.application.use_cases.benchmarks import BenchmarkUseCases
from src.application.use_cases.monitoring import MonitoringUseCases, MonitorSettings, slo_attainment
from tests.unit.test_campaigns import OPERATOR, SPEEDS, ByEndpoint, campaign_world

MIDDLE = "http://127.0.0.1:9001/v1"


def watched_world(**history) -> MonitoringUseCases:
    return watched_fleet(**history)[0]


def watched_fleet(
    hours_between_runs: int = 6, baseline_runs: int = 12, latest_runs: int = 4, slow_down: float = 1.0,
    slow_tokens: float = 1.0, caller: Caller = OPERATOR, **plan,
) -> tuple[MonitoringUseCases, BenchmarkUseCases, ByEndpoint]:  # fmt: skip
    """Campaigns of the three endpoints every few hours: the baseline's, then the latest window's,
    in which "middle" is `slow_down` times slower to its first token, `slow_tokens` to the rest.
    With the endpoints' use cases and fake client, to measure more."""
    campaigns, _, client = campaign_world()
    clock = campaigns.benchmarks.clock
    chosen = campaigns.benchmarks.plan(20, warmup=0, **plan)
    for index in range(baseline_runs + latest_runs):
        if index == baseline_runs:
            client.ttft[MIDDLE] *= slow_down
            client.decode[MIDDLE] *= slow_tokens
        campaigns.execute(campaigns.queue(list(SPEEDS), chosen, caller).campaign.id)
        clock.advance(timedelta(hours=hours_between_runs))
    clock.advance(timedelta(hours=-hours_between_runs + 1))  # an hour after the last
    settings = MonitorSettings(window=timedelta(hours=hours_between_runs * latest_runs),
                               baseline=timedelta(hours=hours_between_runs * baseline_runs))  # fmt: skip
    return MonitoringUseCases(campaigns.uow, clock, settings), campaigns.benchmarks, client


def test_an_endpoint_that_slowed_down_is_flagged_and_the_others_are_not():
    statuses = {s.endpoint.name: s for s in watched_world(slow_down=2.0).statuses()}
    assert [name for name, status in statuses.items() if status.changed] == ["middle"]
    ttft = statuses["middle"].latencies[0]
    assert ttft.name == "TTFT" and ttft.changes[Statistic.MEDIAN].changed and ttft.changes[Statistic.MEDIAN].worse
    assert ttft.changes[Statistic.MEDIAN].relative == pytest.approx(1.0, abs=0.1)
    assert ttft.quantiles[Statistic.MEDIAN].value == pytest.approx(0.4, rel=0.1)
    assert all(not change.changed for change in statuses["middle"].latencies[1].changes.values())  # ITL held


def test_a_steady_endpoint_is_never_flagged_and_its_window_holds_only_its_latest_runs():
    statuses = watched_world().statuses()
    assert [s.endpoint.name for s in statuses] == ["fast", "middle", "slow"] and not any(s.changed for s in statuses)
    fast = statuses[0]
    assert (fast.runs, fast.baseline_runs, fast.requests) == (4, 12, 80)
    ttft, itl = fast.latencies
    assert ttft.quantiles[Statistic.MEDIAN].value == pytest.approx(0.1, rel=0.1)
    low, high = ttft.quantiles[Statistic.MEDIAN].interval.low, ttft.quantiles[Statistic.MEDIAN].interval.high
    assert low < ttft.quantiles[Statistic.MEDIAN].value < high
    # A reply of 11 tokens whose last came 1 s after its first: (e2e - TTFT) / (n - 1) = 0.1 s.
    assert itl.name == "ITL" and itl.quantiles[Statistic.MEDIAN].value == pytest.approx(
        0.1, rel=0.011
    )  # the sketch's 1%
    assert fast.error_rates == {} and fast.slo is None and fast.plan.runs == 16


def test_each_endpoint_is_watched_over_its_own_newest_runs_however_many_the_others_have(monkeypatch):
    """A status reads each endpoint's newest RUNS_READ runs, not the newest of all endpoints
    together: in a busy fleet those would leave a quiet endpoint out and cut the others' baselines."""
    monkeypatch.setattr(bounds, "RUNS_READ", Bound(1, 8))
    monitoring = watched_world()
    statuses = monitoring.statuses()
    assert [(s.endpoint.name, s.runs, s.baseline_runs) for s in statuses] == [
        ("fast", 4, 4), ("middle", 4, 4), ("slow", 4, 4)
    ]  # fmt: skip


def test_the_baseline_holds_only_the_runs_of_its_period_before_the_window():
    monitoring = watched_world()  # a run every 6 h, the last an hour ago
    monitoring.settings = MonitorSettings(window=timedelta(hours=24), baseline=timedelta(hours=36))
    assert [(s.runs, s.baseline_runs) for s in monitoring.statuses()] == [(4, 6)] * 3


def test_an_endpoint_whose_tokens_slowed_has_its_itl_flagged_and_its_ttft_not():
    middle = {s.endpoint.name: s for s in watched_world(slow_tokens=2.0).statuses()}["middle"]
    ttft, itl = middle.latencies
    assert itl.quantiles[Statistic.MEDIAN].value == pytest.approx(0.2, rel=0.011)  # 2 s over ten gaps
    assert itl.changes[Statistic.MEDIAN].changed and itl.changes[Statistic.MEDIAN].worse
    assert itl.changes[Statistic.MEDIAN].relative == pytest.approx(1.0, abs=0.03)
    assert not any(change.changed for change in ttft.changes.values())


def test_a_run_finished_at_the_windows_start_is_in_the_window():
    monitoring = watched_world()  # runs 1, 7, 13, 19, 25... hours ago
    monitoring.settings = MonitorSettings(window=timedelta(hours=19), baseline=timedelta(hours=30))
    assert [(s.runs, s.baseline_runs) for s in monitoring.statuses()] == [(4, 5)] * 3
    monitoring.settings = MonitorSettings(window=timedelta(hours=1), baseline=timedelta(hours=6))
    assert [(s.runs, s.baseline_runs) for s in monitoring.statuses()] == [(1, 1)] * 3  # the newest, at the start


def test_an_endpoint_without_a_run_in_the_window_is_not_watched_and_only_its_newest_plans_runs_count():
    monitoring, benchmarks, _ = watched_fleet(latest_runs=1)
    monitoring.clock.advance(timedelta(hours=24))
    assert monitoring.statuses() == []
    benchmarks.run_now("fast", benchmarks.plan(10, warmup=0))  # another plan
    [fast] = monitoring.statuses()
    assert (fast.endpoint.name, fast.runs, fast.baseline_runs, fast.requests) == ("fast", 1, 0, 10)


def test_a_status_reports_its_windows_error_rates_and_mean_output_throughput():
    monitoring, benchmarks, client = watched_fleet(baseline_runs=0)
    client.failing_every[MIDDLE] = 4
    benchmarks.run_now("middle", benchmarks.plan(20, warmup=0))
    middle = {s.endpoint.name: s for s in monitoring.statuses()}["middle"]
    assert (middle.runs, middle.requests) == (5, 100) and middle.error_rates == {"http_5xx": 5 / 100}
    throughputs = [point.run.details["output_tokens_per_second"] for point in monitoring.trend("middle")]
    assert len(throughputs) == 5 and middle.output_tokens_per_second == pytest.approx(sum(throughputs) / 5)
    assert min(throughputs) < max(throughputs)  # a mean, not one run's


def test_each_watched_change_is_judged_at_the_level_shared_by_the_four_watched(monkeypatch):
    """Two statistics of two latencies: each comparison is made at CHANGE_LEVEL / 4 (Bonferroni)."""
    corrected_for = []
    real = monitoring_module.compare_runs
    monkeypatch.setattr(
        monitoring_module, "compare_runs", lambda *given: corrected_for.append(given[3]) or real(*given)
    )
    watched_world(latest_runs=2, baseline_runs=2).statuses()
    assert corrected_for == [4] * 3 * 2 * 2  # three endpoints, two latencies, two statistics


def test_without_a_baseline_nothing_is_compared():
    statuses = watched_world(baseline_runs=0).statuses()
    assert all(latency.changes == {} for s in statuses for latency in s.latencies)


def test_slo_attainment_is_pooled_over_the_windows_runs_with_an_interval():
    # A first token within 150 ms: "fast" always (90-110 ms), "middle" never (180-220 ms).
    statuses = {s.endpoint.name: s for s in watched_world(slo=Slo(ttft_ms=150)).statuses()}
    assert statuses["fast"].slo.attainment == 1.0 and statuses["middle"].slo.attainment == 0.0
    assert statuses["fast"].slo.requests == 80 and statuses["fast"].slo.target == 0.95


def test_an_endpoints_trend_is_its_valid_runs_of_the_last_days_oldest_first():
    monitoring = watched_world(slo=Slo(ttft_ms=150))  # a run every 6 h for four days, the last an hour ago
    points = monitoring.trend("fast", days=2)
    finished = [point.run.finished_at for point in points]
    assert len(points) == 8 and finished == sorted(finished)  # those of the last 48 h
    assert finished[0] >= monitoring.clock.now() - timedelta(days=2)
    for point in points:
        assert point.ttft.value == pytest.approx(0.1, rel=0.1) and point.itl.value == pytest.approx(0.1, rel=0.011)
        assert point.ttft.interval.low < point.ttft.value < point.ttft.interval.high
        assert point.itl.interval.low <= point.itl.value <= point.itl.interval.high  # every gap is 0.1 s here
        assert point.plan == plan_key(point.run.plan) and point.slo_attainment == 1.0
    assert [point.slo_attainment for point in monitoring.trend("middle", days=2)] == [0.0] * 8
    assert len(monitoring.trend("fast")) == 16  # a week's: all four days
    assert len(watched_world(hours_between_runs=12).trend("fast")) == 14  # a week of eight days' runs


def test_a_trend_leaves_out_a_run_whose_latencies_are_missing_and_names_an_unknown_endpoint():
    monitoring = watched_world(baseline_runs=0)
    oldest = monitoring.trend("fast")[0].run
    ttft = next(m for m in monitoring.uow.store.metrics if m.name == "TTFT")
    store = monitoring.uow.store
    store.summaries = [s for s in store.summaries if (s.run_id, s.metric_id) != (oldest.id, ttft.id)]
    points = monitoring.trend("fast")
    assert len(points) == 3 and oldest.id not in {point.run.id for point in points}  # the newer ones stay
    with pytest.raises(NotFound, match=r"^no endpoint is named 'nowhere'$"):
        monitoring.trend("nowhere")
    with pytest.raises(NotFound) as refused:
        monitoring.trend("n" * 150)
    assert str(refused.value) == f"no endpoint is named {'n' * 100!r}"  # a long name is cut short


def reports(*good: int, sent: int = 20) -> list[dict]:
    return [{"slo": {"good_requests": count}, "requests_sent": sent} for count in good]


def test_slo_attainment_is_good_requests_over_those_sent_with_a_cluster_robust_interval():
    plan = {"slo": {"ttft_ms": 150, "attainment": 0.9}}
    attained = slo_attainment(plan, reports(18, 10, 20))
    # 48 of 60; the runs' residuals 18 - 16, 10 - 16 and 20 - 16, squared, summed and scaled by k / (k - 1).
    half = 1.959964 * math.sqrt((4 + 36 + 16) * 3 / 2) / 60
    assert attained.attainment == pytest.approx(0.8) and (attained.target, attained.requests) == (0.9, 60)
    assert attained.interval.low == pytest.approx(0.8 - half) and attained.interval.high == 1.0  # clipped
    low = slo_attainment(plan, reports(0, 0, 10, sent=10))
    half = 1.959964 * math.sqrt(((10 / 3) ** 2 * 2 + (20 / 3) ** 2) * 3 / 2) / 30
    assert low.interval.low == 0.0 and low.interval.high == pytest.approx(1 / 3 + half)


def test_slo_attainment_of_one_run_has_an_open_interval_and_without_an_slo_there_is_none():
    one = slo_attainment({"slo": {"ttft_ms": 150}}, [*reports(19), {"requests_sent": 20}])  # a run without a report
    assert (one.attainment, one.interval, one.target, one.requests) == (0.95, Interval(None, None), 0.95, 20)
    nothing_sent = slo_attainment({"slo": {"ttft_ms": 150}}, reports(0, 0, sent=0))
    assert (nothing_sent.attainment, nothing_sent.interval, nothing_sent.requests) == (0.0, Interval(None, None), 0)
    assert slo_attainment({}, reports(19)) is None and slo_attainment({"slo": {"ttft_ms": 150}}, []) is None
    assert slo_attainment({"slo": {"ttft_ms": 150, "attainment": 0.99}}, reports(19)).target == 0.99


def test_two_runs_are_enough_for_an_slo_attainment_interval_whose_target_defaults_to_95_percent():
    two = slo_attainment({"slo": {"ttft_ms": 150}}, reports(20, 10))
    half = 1.959964 * math.sqrt((5**2 + 5**2) * 2 / 1) / 40
    assert two.attainment == 0.75 and two.interval.low == pytest.approx(0.75 - half) and two.interval.high == 1.0
    assert two.target == 0.95


SHOWN = Estimated(1.0, Interval(0.95, 1.05))


def test_a_change_is_flagged_only_when_sure_at_the_level_and_large_enough():
    baseline = [1.0, 1.1, 0.9, 1.05, 0.95, 1.0, 1.02, 0.98, 1.1, 0.9, 1.0, 1.0]
    slower = compare_runs([1.5, 1.6, 1.4, 1.55], baseline, SHOWN, 4)
    assert slower.changed and slower.worse and slower.relative == pytest.approx(0.5, abs=0.03)
    assert slower.p_value == pytest.approx(1 / math.comb(16, 4))  # no other split is as far apart
    faster = compare_runs([0.6, 0.62, 0.58, 0.6], baseline, SHOWN, 4)
    assert faster.changed and not faster.worse
    small = compare_runs([1.08, 1.09, 1.07, 1.08], [1.0] * 12, SHOWN, 4)
    assert small.p_value < CHANGE_LEVEL / 4 and not small.changed  # sure, but under 10%
    mixed = compare_runs([1.5, 0.9, 1.6, 1.0], baseline, SHOWN, 4)
    assert mixed.p_value > CHANGE_LEVEL / 4 and not mixed.changed  # two runs as the baseline's: not sure


def test_a_p_value_of_exactly_the_level_is_no_change_and_runs_that_held_are_not_worse():
    # Two of three equal highs among 25 runs: 3 of the C(25, 2) = 300 splits are as far apart.
    edge = compare_runs([2.0, 2.0], [2.0] + [1.0] * 22, SHOWN, 1)
    assert edge.p_value == pytest.approx(CHANGE_LEVEL) and edge.relative > MIN_CHANGE and not edge.changed
    held = compare_runs([1.0, 1.0], [1.0] * 6, SHOWN, 1)
    assert held.relative == 0.0 and not held.worse and not held.changed


def test_too_few_runs_can_never_reach_the_level():
    few = compare_runs([5.0, 5.0, 5.0], [1.0, 1.0, 1.0, 1.0], SHOWN, 4)
    assert few.p_value == pytest.approx(1 / math.comb(7, 3)) and not few.changed  # 1/35 > 0.25%


def test_past_twenty_thousand_splits_they_are_drawn_and_the_answer_repeats():
    latest, baseline = [2.0, 2.1, 1.9, 2.0, 2.05, 1.95, 2.0, 2.0], [1.0 + 0.01 * i for i in range(24)]
    assert math.comb(32, 8) > MAX_SPLITS
    first, again = compare_runs(latest, baseline, SHOWN, 4), compare_runs(latest, baseline, SHOWN, 4)
    assert first.p_value == again.p_value == pytest.approx(1 / 10_000) and first.changed


def test_each_endpoints_newest_runs_tell_whether_it_failed_or_was_left_out_as_its_client_was_the_bottleneck():
    monitoring = watched_world(baseline_runs=1, latest_runs=1)
    first, second, third = SPEEDS
    newest = {n.endpoint.name: n for n in monitoring.newest_runs()}
    assert set(newest) == set(SPEEDS) and not any(n.failing for n in newest.values())
    assert all(n.finished is n.valid or n.finished.id == n.valid.id for n in newest.values())
    endpoint_id = newest[first].finished.endpoint_id
    with monitoring.uow:
        failed = Run(seed=0, samples_per_pair=20, created_at=monitoring.clock.now(), source=RunSource.MEASURED,
                     endpoint_id=endpoint_id)  # fmt: skip
        monitoring.uow.runs.add(failed)
        failed.fail(monitoring.clock.now(), "no request succeeded (http_4xx: 20)")
        queued = Run(seed=0, samples_per_pair=20, created_at=monitoring.clock.now(), source=RunSource.MEASURED,
                     endpoint_id=newest[second].finished.endpoint_id)  # fmt: skip
        monitoring.uow.runs.add(queued)  # not finished: not anyone's newest
        left_out = Run(seed=0, samples_per_pair=20, created_at=monitoring.clock.now(), source=RunSource.MEASURED,
                       endpoint_id=newest[third].finished.endpoint_id)  # fmt: skip
        monitoring.uow.runs.add(left_out)
        left_out.complete(monitoring.clock.now(), 20, invalid="client-bound: the client's event loop lagged 80 ms")
        monitoring.uow.commit()
    after = {n.endpoint.name: n for n in monitoring.newest_runs()}
    assert after[first].failing and after[first].finished.id == failed.id
    assert after[first].failed and not after[first].client_bound  # the endpoint's fault
    assert after[first].valid.id == newest[first].valid.id  # its newest valid run stays known
    assert not after[second].failing and after[second].finished.id == newest[second].finished.id
    assert not after[second].failed and not after[second].client_bound
    assert after[third].failing and after[third].client_bound and not after[third].failed  # the client's
    assert after[third].finished.id == left_out.id and after[third].valid.id == newest[third].valid.id
    assert after[first].llm.name and after[first].endpoint.id == endpoint_id


def test_a_scheduled_endpoint_keeps_its_schedules_plan_when_a_run_by_hand_uses_another():
    """Its alerts read its status: a benchmark by hand must not swap its plan, baseline and SLO."""
    monitoring, benchmarks, _ = watched_fleet(caller=SCHEDULE)
    by_hand = benchmarks.run_now("fast", benchmarks.plan(10, warmup=0))  # newer, of another plan
    fast = {s.endpoint.name: s for s in monitoring.statuses()}["fast"]
    assert (fast.runs, fast.baseline_runs, fast.requests) == (4, 12, 80)
    assert fast.plan.key != plan_key(by_hand.plan)
    watching, monitoring.settings = monitoring.settings, MonitorSettings(timedelta(hours=1), timedelta(hours=6))
    fast = {s.endpoint.name: s for s in monitoring.statuses()}["fast"]  # its newest scheduled run at the start
    assert (fast.plan.key != plan_key(by_hand.plan), fast.runs) == (True, 1)
    monitoring.settings = watching
    monitoring.clock.advance(timedelta(hours=24))  # the schedule's runs have left the window: the newest's plan
    [fast] = monitoring.statuses()
    assert (fast.endpoint.name, fast.plan.key, fast.runs) == ("fast", plan_key(by_hand.plan), 1)
