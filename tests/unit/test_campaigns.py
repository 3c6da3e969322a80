"""Campaigns and measured rankings with fakes: endpoints measured together, ranked by endpoint or
by LLM, only over runs of one plan."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from src.application.domain import bounds
from src.application.domain.bounds import Bound
from src.application.domain.errors import Forbidden, InvalidParameter, NotFound, QuotaExceeded
from src.application.domain.model import Caller, Campaign, Role, Run, RunSource, RunStatus
from src.application.domain.ranking import GroupBy, Scope, Statistic, Window
from src.application.ports.llm_client import AbstractChatStreams, AbstractLLMClient, ChatRequest, RequestOutcome
from src.application.services import ranking
from src.application.services.measures import ClientLimits
from src.application.services.plans import describe, plan_key
from src.application.services.workloads import Workload
from src.application.use_cases.campaigns import CampaignReport, CampaignUseCases
from src.application.use_cases.quotas import Quotas
from src.application.use_cases.rankings import RankingUseCases
from src.application.use_cases.simulation import SimulationSettings, SimulationUseCases
from tests.unit.fakes import FakeTaskQueue
from tests.unit.test_benchmark_use_cases import benchmarks

OPERATOR = Caller("key:1", Role.OPERATOR)


class ByEndpoint(AbstractLLMClient):
    """Answers each endpoint (by its base URL) with first tokens around its own mean, then ten more
    over `decode` seconds; every request is logged with its endpoint, in the order sent. An
    endpoint in `failing_every` answers every n-th request it gets with a 5xx."""

    def __init__(self, ttft: dict[str, float], seed: int = 1):
        self.ttft = ttft
        self.decode = dict.fromkeys(ttft, 1.0)
        self.failing_every: dict[str, int] = {}
        self.draw = random.Random(seed)
        self.sent: list[tuple[str, str]] = []  # (base URL, prompt)

    @asynccontextmanager
    async def connect(self, reuse_connections: bool, max_streams: int) -> AsyncIterator[AbstractChatStreams]:
        yield Streams(self)

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.new_event_loop()


class Streams(AbstractChatStreams):
    def __init__(self, client: ByEndpoint):
        self.client = client

    async def stream(self, request: ChatRequest) -> RequestOutcome:
        client, url = self.client, request.base_url
        client.sent.append((url, request.prompt))
        ttft = client.ttft[url] * client.draw.uniform(0.9, 1.1)
        await asyncio.sleep(0.002)  # waiting on the endpoint: the others' requests go out meanwhile
        if url in client.failing_every and sum(u == url for u, _ in client.sent) % client.failing_every[url] == 0:
            return RequestOutcome(started=10.0, finished=10.5, error="http_5xx")
        finished = 10.0 + ttft + client.decode[url]
        return RequestOutcome(started=10.0, finished=finished, first_token_at=10.0 + ttft, output_tokens=11,
                              input_tokens=25, tokens_from_usage=True, client_overhead_s=0.001)  # fmt: skip


SPEEDS = {"fast": 0.1, "middle": 0.2, "slow": 0.4}  # their mean TTFT, seconds


def campaign_world(**settings):
    client = ByEndpoint({f"http://127.0.0.1:{9000 + i}/v1": ttft for i, ttft in enumerate(SPEEDS.values())})
    # No limits: this client answers from memory, a run in ~40 ms, so one stall of a busy host outlasted a
    # run at its p99 and marked it client-bound, leaving it out of a window (a baseline of 11 runs, not 12,
    # in CI). The self-check has tests of its own (test_benchmark_use_cases.py).
    unlimited = ClientLimits(loop_lag_ms=math.inf, cpu_share=math.inf)
    use_cases, uow, _ = benchmarks(client, client_limits=unlimited, **settings)
    llms = {"fast": "GPT-4o", "middle": "GPT-4o", "slow": "Claude 3.5 Sonnet"}  # two providers of one LLM
    for i, name in enumerate(SPEEDS):
        use_cases.add_endpoint(name, llms[name], f"http://127.0.0.1:{9000 + i}/v1", "m", None)
    campaigns = CampaignUseCases(
        uow, use_cases, RankingUseCases(uow, use_cases.clock), FakeTaskQueue(), use_cases.clock, Quotas()
    )
    return campaigns, RankingUseCases(uow, use_cases.clock), client


def test_a_campaign_sends_every_endpoint_the_same_prompts_side_by_side_and_ranks_them_by_endpoint():
    campaigns, rankings, client = campaign_world()
    workload = Workload(input_tokens=8, distribution="uniform", spread=4, seed=7)
    plan = campaigns.benchmarks.plan(30, warmup=0, workload=workload)
    report = campaigns.queue(list(SPEEDS), plan, OPERATOR)
    assert report.status is RunStatus.QUEUED and len({run.seed for run in report.runs}) == 1
    assert campaigns.execute(report.campaign.id).status is RunStatus.COMPLETED

    by_endpoint = {url: [p for u, p in client.sent if u == url] for url, _ in client.sent}
    assert len(set(map(tuple, by_endpoint.values()))) == 1  # the same prompts in the same order
    order = [url for url, _ in client.sent]
    assert all(len(set(order[i : i + 3])) == 3 for i in range(0, 90, 3))  # alternated, not one after another

    ranked = rankings.rank_metric("TTFT", scope=Scope(group_by=GroupBy.ENDPOINT, campaign_id=report.campaign.id))
    assert [(e.subject.name, e.subject.endpoint, e.subject.llm.name) for e in ranked.entries] == [
        ("fast", "fast", "GPT-4o"), ("middle", "middle", "GPT-4o"), ("slow", "slow", "Claude 3.5 Sonnet")
    ]  # fmt: skip
    assert all(not e.tied_with and e.rank_interval == (e.rank, e.rank) for e in ranked.entries)
    assert ranked.selection.campaign_id == report.campaign.id and ranked.selection.runs == 3
    assert ranked.source is RunSource.MEASURED
    assert ranked.selection.plan.key == plan_key(report.runs[0].details["plan"])
    overall = rankings.rank_overall(scope=Scope(group_by=GroupBy.ENDPOINT, campaign_id=report.campaign.id))
    assert overall.source is RunSource.MEASURED and {e.subject.name for e in overall.entries} == set(SPEEDS)


def test_a_campaigns_ranking_leaves_out_its_runs_that_failed():
    campaigns, rankings, _ = campaign_world()
    campaigns.benchmarks.change_endpoint("slow", {"api_key_env": "SLOW_API_KEY"})  # not set: its run fails
    queued = campaigns.queue(list(SPEEDS), campaigns.benchmarks.plan(10, warmup=0), OPERATOR)
    report = campaigns.execute(queued.campaign.id)
    assert [run.status for run in report.runs] == [RunStatus.COMPLETED, RunStatus.COMPLETED, RunStatus.FAILED]
    ranked = rankings.rank_metric("TTFT", scope=Scope(group_by=GroupBy.ENDPOINT, campaign_id=report.campaign.id))
    assert [e.subject.name for e in ranked.entries] == ["fast", "middle"]
    assert ranked.selection.runs == 2 and ranked.selection.run is None
    one = rankings.rank_metric("TTFT", scope=Scope(run_id=report.runs[0].id))
    assert one.selection.runs == 1 and one.selection.run.id == report.runs[0].id


def test_runs_measured_together_report_progress_over_all_their_requests_and_leave_finished_ones_be():
    campaigns, _, client = campaign_world()
    first, *others = [run.id for run in campaigns.queue(list(SPEEDS), campaigns.benchmarks.plan(5, warmup=0),
                                                        OPERATOR).runs]  # fmt: skip
    campaigns.benchmarks.fail([first], "cancelled")
    heard: list[tuple[int, int]] = []
    runs = campaigns.benchmarks.measure_together([first, *others], lambda done, of: heard.append((done, of)))
    assert [run.status for run in runs] == [RunStatus.FAILED, RunStatus.COMPLETED, RunStatus.COMPLETED]
    assert heard == [(done, 10) for done in range(1, 11)]
    # One client served both: one self-check, its CPU a share of the time they took together.
    checks = [run.details["self_check"] for run in runs[1:]]
    assert checks[0] == checks[1] and 0 < checks[0]["client_cpu"] <= 1
    assert sorted({url for url, _ in client.sent}) == ["http://127.0.0.1:9001/v1", "http://127.0.0.1:9002/v1"]


def test_ranked_by_llm_an_llms_endpoints_are_pooled_and_by_endpoint_kept_apart():
    campaigns, rankings, _ = campaign_world()
    report = campaigns.execute(campaigns.queue(list(SPEEDS), campaigns.benchmarks.plan(20, warmup=0), OPERATOR)
                               .campaign.id)  # fmt: skip
    by_llm = rankings.rank_metric("TTFT", scope=Scope(source=RunSource.MEASURED, campaign_id=report.campaign.id))
    assert [(e.subject.name, e.subject.endpoint, e.statistics.n) for e in by_llm.entries] == [
        ("GPT-4o", None, 40), ("Claude 3.5 Sonnet", None, 20)
    ]  # fmt: skip
    latest = rankings.rank_metric("TTFT", scope=Scope(source=RunSource.MEASURED, group_by=GroupBy.ENDPOINT))
    assert [e.subject.name for e in latest.entries] == ["fast", "middle", "slow"]
    campaigns.execute(campaigns.queue(["fast", "slow"], campaigns.benchmarks.plan(20, warmup=0), OPERATOR)
                      .campaign.id)  # fmt: skip
    newest = rankings.rank_metric("TTFT", scope=Scope(source=RunSource.MEASURED))  # each endpoint's newest run
    assert newest.selection.runs == 3 and [e.statistics.n for e in newest.entries] == [40, 20]


def test_runs_of_different_plans_are_never_pooled_and_the_choices_are_named():
    campaigns, rankings, _ = campaign_world()
    small, large = campaigns.benchmarks.plan(10, warmup=0), campaigns.benchmarks.plan(20, warmup=0, concurrency=2)
    for plan in (small, large):
        campaigns.execute(campaigns.queue(["fast", "slow"], plan, OPERATOR).campaign.id)
    day = Scope(window=Window.DAY, source=RunSource.MEASURED, group_by=GroupBy.ENDPOINT)
    never_pooled = r"^these runs have 2 plans, which are never pooled: choose one with plan$"
    with pytest.raises(InvalidParameter, match=never_pooled) as refused:
        rankings.rank_metric("TTFT", scope=day)
    keys = {plan_key(rankings_plan(campaigns, plan)) for plan in (small, large)}
    assert {choice.split(" ")[0] for choice in refused.value.choices} == keys and refused.value.parameter == "plan"
    listed = f"{plan_key(rankings_plan(campaigns, small))} (10 requests, concurrency 1, up to 256 tokens out; 2 runs)"
    assert listed in refused.value.choices

    chosen = plan_key(rankings_plan(campaigns, large))
    ranked = rankings.rank_metric("TTFT", scope=replace(day, plan=chosen))
    assert ranked.selection.plan.key == chosen and ranked.selection.runs == 2
    assert ranked.selection.plan.description == "20 requests, concurrency 2, up to 256 tokens out"
    assert [e.statistics.n for e in ranked.entries] == [20, 20]  # the small plan's runs left out
    with pytest.raises(InvalidParameter, match=r"^no run here has plan '0{20}'$") as refused:
        rankings.rank_metric("TTFT", scope=replace(day, plan="0" * 30))
    assert refused.value.parameter == "plan" and len(refused.value.choices) == 2
    alone = campaigns.benchmarks.run_now("fast", campaigns.benchmarks.plan(5, warmup=0))
    with pytest.raises(InvalidParameter) as refused:
        rankings.rank_metric("TTFT", scope=day)
    assert f"{plan_key(alone.plan)} (5 requests, concurrency 1, up to 256 tokens out; 1 run)" in refused.value.choices


def test_latest_ranks_each_endpoints_newest_run_or_with_a_plan_its_newest_of_that_plan():
    campaigns, rankings, _ = campaign_world()
    small, large = campaigns.benchmarks.plan(10, warmup=0), campaigns.benchmarks.plan(20, warmup=0, concurrency=2)
    for plan in (small, large):
        campaigns.execute(campaigns.queue(["fast", "slow"], plan, OPERATOR).campaign.id)
        campaigns.benchmarks.clock.advance(timedelta(hours=1))
    latest = Scope(source=RunSource.MEASURED, group_by=GroupBy.ENDPOINT)
    newest = rankings.rank_metric("TTFT", scope=latest)  # the small plan's runs are older: no choice to make
    assert [e.statistics.n for e in newest.entries] == [20, 20] and newest.selection.plan.runs == 2
    older = rankings.rank_metric("TTFT", scope=replace(latest, plan=plan_key(rankings_plan(campaigns, small))))
    assert [e.statistics.n for e in older.entries] == [10, 10]

    campaigns.benchmarks.run_now("fast", small)  # now the two endpoints' newest runs differ in plan
    with pytest.raises(InvalidParameter, match="2 plans, which are never pooled"):
        rankings.rank_metric("TTFT", scope=latest)


def test_measured_history_follows_one_plan_the_one_asked_for_or_the_only_one():
    campaigns, rankings, _ = campaign_world()
    small, large = campaigns.benchmarks.plan(10, warmup=0), campaigns.benchmarks.plan(20, warmup=0, concurrency=2)
    campaigns.execute(campaigns.queue(["fast", "slow"], small, OPERATOR).campaign.id)
    campaigns.benchmarks.clock.advance(timedelta(minutes=5))
    one_plan = rankings.history("TTFT", window=Window.DAY, source=RunSource.MEASURED)
    assert one_plan.plan.key == plan_key(rankings_plan(campaigns, small)) and one_plan.plan.runs == 2
    counted = {subject.name: len(points) for subject, points in one_plan.series.items()}
    assert (counted["fast"], counted["middle"], counted["slow"]) == (1, 0, 1)

    campaigns.benchmarks.run_now("fast", large)
    with pytest.raises(InvalidParameter, match=r"^these runs have 2 plans, which are never pooled") as refused:
        rankings.history("TTFT", window=Window.DAY, source=RunSource.MEASURED)
    assert refused.value.parameter == "plan" and len(refused.value.choices) == 2
    key = plan_key(rankings_plan(campaigns, large))
    followed = rankings.history("TTFT", window=Window.DAY, source=RunSource.MEASURED, plan=key)
    fast_runs = [r.id for r in campaigns.uow.store.runs.values() if plan_key(r.details["plan"]) == key]
    assert [p.run_id for points in followed.series.values() for p in points] == fast_runs
    assert (followed.plan.key, followed.plan.runs) == (key, 1)
    small_key = plan_key(rankings_plan(campaigns, small))
    newest_of_small = rankings.history("TTFT", window=Window.DAY, limit=1, source=RunSource.MEASURED, plan=small_key)
    assert sum(map(len, newest_of_small.series.values())) == 1  # the newer run of the other plan takes no place
    none = rankings.history("TTFT", window=Window.DAY, source=RunSource.MEASURED, plan="0" * 12)
    assert none.plan is None and all(points == () for points in none.series.values())


def rankings_plan(campaigns: CampaignUseCases, plan) -> dict:
    """The plan as a run's details hold it."""
    runs = [r for r in campaigns.uow.store.runs.values() if r.details["plan"]["requests"] == plan.requests]
    return runs[0].details["plan"]


def test_a_window_pools_each_endpoints_runs_of_the_plan_and_latest_reads_each_ones_newest():
    campaigns, rankings, _ = campaign_world()
    plan, other = campaigns.benchmarks.plan(10, warmup=0), campaigns.benchmarks.plan(12, warmup=0)
    for _ in range(3):
        campaigns.execute(campaigns.queue(list(SPEEDS), plan, OPERATOR).campaign.id)
        campaigns.benchmarks.clock.advance(timedelta(minutes=40))  # runs in the same hour and in the next
    campaigns.execute(campaigns.queue(["fast", "slow"], other, OPERATOR).campaign.id)  # another plan: not pooled
    key = plan_key(rankings_plan(campaigns, plan))
    scope = Scope(window=Window.DAY, source=RunSource.MEASURED, group_by=GroupBy.ENDPOINT, plan=key)
    day = rankings.rank_metric("TTFT", scope=scope)
    assert day.selection.runs == 9 and [e.statistics.n for e in day.entries] == [30, 30, 30]
    assert day.selection.plan.key == key and day.selection.plan.runs == 9
    finished = sorted(r.finished_at for r in campaigns.uow.store.runs.values() if plan_key(r.details["plan"]) == key)
    selection = day.selection
    assert (selection.first_finished_at, selection.last_finished_at, selection.run) == (finished[0], finished[-1], None)
    assert all(e.statistics.sketched for e in day.entries)  # several runs: each a cluster
    # The rollups give what pooling the runs' own summaries gives, interval for interval.
    metric = next(m for m in campaigns.uow.store.metrics if m.name == "TTFT")
    for entry in day.entries:
        pooled = ranking.combine(metric, summaries_of(campaigns, entry.subject.name, metric.id, plan.requests))
        assert entry.statistics.mean == pytest.approx(pooled.mean, rel=1e-12)
        assert entry.statistics.p95 == pooled.p95 and entry.statistics.std == pytest.approx(pooled.std, rel=1e-9)
        for statistic, expected in pooled.intervals.items():
            interval = entry.statistics.intervals[statistic]
            assert bounds_of(interval) == pytest.approx(bounds_of(expected), rel=1e-9, nan_ok=True), statistic
    by_llm = rankings.rank_metric("TTFT", scope=replace(scope, group_by=GroupBy.LLM))
    assert [(e.subject.name, e.statistics.n) for e in by_llm.entries] == [("GPT-4o", 60), ("Claude 3.5 Sonnet", 30)]
    both = summaries_of(campaigns, "fast", metric.id, plan.requests) + summaries_of(
        campaigns, "middle", metric.id, plan.requests
    )
    assert by_llm.entries[0].statistics.mean == pytest.approx(ranking.combine(metric, both).mean, rel=1e-12)
    latest = rankings.rank_metric("TTFT", scope=replace(scope, window=Window.LATEST))
    assert latest.selection.runs == 3 and [e.statistics.n for e in latest.entries] == [10, 10, 10]
    with pytest.raises(InvalidParameter, match="2 plans, which are never pooled") as refused:
        rankings.rank_metric("TTFT", scope=replace(scope, plan=None))
    newest_first = [plan_key(rankings_plan(campaigns, other)), key]
    assert [choice.split(" ")[0] for choice in refused.value.choices] == newest_first


def test_a_window_holding_one_measured_run_names_it():
    campaigns, rankings, _ = campaign_world()
    run = campaigns.benchmarks.run_now("middle", campaigns.benchmarks.plan(10, warmup=0))
    day = rankings.rank_metric("TTFT", scope=Scope(window=Window.DAY, source=RunSource.MEASURED))
    assert (day.selection.runs, day.selection.run.id, day.selection.last_finished_at) == (1, run.id, run.finished_at)
    assert [(e.subject.name, e.statistics.n) for e in day.entries] == [("GPT-4o", 10)]


def bounds_of(interval) -> tuple[float, float]:
    return tuple(float("nan") if side is None else side for side in (interval.low, interval.high))


def summaries_of(campaigns: CampaignUseCases, endpoint: str, metric_id: int, requests: int) -> list:
    """An endpoint's summaries of one metric, from its runs of `requests` requests, oldest first."""
    endpoint_id = next(e.id for e in campaigns.uow.store.endpoints if e.name == endpoint)
    runs = [r.id for r in campaigns.uow.store.runs.values()
            if r.endpoint_id == endpoint_id and r.details["plan"]["requests"] == requests]  # fmt: skip
    return [s for s in campaigns.uow.store.summaries if s.run_id in runs and s.metric_id == metric_id]


def test_latest_and_windows_hold_an_endpoint_measured_long_before_the_newest_runs_of_the_others(monkeypatch):
    """An endpoint measured weekly in a fleet measured hourly must not drop out of the latest ranking
    (with a plan or without), nor of a window, when the others' runs outnumber RUNS_READ."""
    monkeypatch.setattr(bounds, "RUNS_READ", Bound(1, 3))
    campaigns, rankings, _ = campaign_world()
    plan = campaigns.benchmarks.plan(10, warmup=0)
    campaigns.execute(campaigns.queue(list(SPEEDS), plan, OPERATOR).campaign.id)
    for _ in range(2):
        campaigns.benchmarks.clock.advance(timedelta(hours=1))
        campaigns.execute(campaigns.queue(["fast", "middle"], plan, OPERATOR).campaign.id)
    latest = rankings.rank_metric("TTFT", scope=Scope(source=RunSource.MEASURED, group_by=GroupBy.ENDPOINT))
    assert [e.subject.name for e in latest.entries] == ["fast", "middle", "slow"]
    assert latest.selection.runs == 3
    day = rankings.rank_metric("TTFT", scope=Scope(window=Window.DAY, source=RunSource.MEASURED,
                                                   group_by=GroupBy.ENDPOINT))  # fmt: skip
    assert day.selection.runs == 7  # every run of the window, read from the endpoints' rollups
    assert [(e.subject.name, e.statistics.n) for e in day.entries] == [("fast", 30), ("middle", 30), ("slow", 10)]
    campaigns.benchmarks.run_now("slow", campaigns.benchmarks.plan(12, warmup=0))  # its newest, of another plan
    of_plan = Scope(source=RunSource.MEASURED, group_by=GroupBy.ENDPOINT, plan=plan_key(rankings_plan(campaigns, plan)))
    latest_of_plan = rankings.rank_metric("TTFT", scope=of_plan)  # slow's run of the plan: older than the newest 3
    assert [(e.subject.name, e.statistics.n) for e in latest_of_plan.entries] == [("fast", 10), ("middle", 10),
                                                                                  ("slow", 10)]  # fmt: skip


def test_only_measured_runs_have_endpoints_to_group_by():
    campaigns, rankings, _ = campaign_world()
    simulations = SimulationUseCases(campaigns.uow, FakeTaskQueue(), campaigns.benchmarks.lifecycle.cache,
                                     campaigns.benchmarks.clock, SimulationSettings(samples_per_pair=50),
                                     campaigns.benchmarks.lifecycle.telemetry, Quotas())  # fmt: skip
    simulations.run_now(seed=1)
    with pytest.raises(InvalidParameter, match="simulated runs have no endpoints"):
        rankings.rank_metric("TTFT", scope=Scope(group_by=GroupBy.ENDPOINT))
    with pytest.raises(NotFound, match=r"^campaign 99 does not exist$"):
        rankings.rank_metric("TTFT", scope=Scope(source=RunSource.MEASURED, campaign_id=99))


@pytest.mark.parametrize(
    ("names", "concurrency", "message", "parameter"),
    [
        (["fast"], 1, "the number of endpoints must be between 2 and 16, got 1", "endpoints"),
        ([f"e{i}" for i in range(17)], 1, "the number of endpoints must be between 2 and 16, got 17", "endpoints"),
        (["fast", "slow", "fast"], 1, "a campaign measures each endpoint once", "endpoints"),
        (["fast", "slow"], 201, "a campaign is sent from one worker: 2 endpoints x concurrency 201 = 402 streams,"
                                " more than one holds (400, BENCHMARK_STREAMS_PER_WORKER)", "concurrency"),
        (["fast", "nowhere"], 1, "no endpoint is named 'nowhere'; known: fake, fast, middle, slow", None),
    ],
)  # fmt: skip
def test_a_campaign_is_checked_before_anything_is_queued(names, concurrency, message, parameter):
    campaigns, _, _ = campaign_world()
    with pytest.raises((InvalidParameter, NotFound)) as refused:
        campaigns.queue(names, campaigns.benchmarks.plan(200, concurrency=concurrency), OPERATOR)
    assert str(refused.value) == message and getattr(refused.value, "parameter", None) == parameter
    assert campaigns.uow.store.runs == {} and campaigns.uow.store.campaigns == {}


def test_a_campaign_may_hold_as_many_streams_as_a_worker_does():
    campaigns, _, _ = campaign_world()
    report = campaigns.queue(["fast", "slow"], campaigns.benchmarks.plan(200, concurrency=200), OPERATOR)
    assert len(report.runs) == 2  # 2 x 200 = 400 streams: the worker's ceiling, reached


def test_readers_cannot_start_campaigns():
    campaigns, _, _ = campaign_world()
    with pytest.raises(Forbidden, match="starting a campaign needs the role operator or admin"):
        campaigns.queue(["fast", "slow"], campaigns.benchmarks.plan(5), Caller("key:2", Role.READER))


def test_an_endpoint_that_cannot_be_sent_to_fails_alone_and_the_others_are_measured():
    campaigns, _, client = campaign_world()
    campaigns.benchmarks.change_endpoint("slow", {"api_key_env": "SLOW_API_KEY"})  # not set
    report = campaigns.execute(campaigns.queue(["fast", "slow"], campaigns.benchmarks.plan(5, warmup=0), OPERATOR)
                               .campaign.id)  # fmt: skip
    assert [run.status for run in report.runs] == [RunStatus.COMPLETED, RunStatus.FAILED]
    assert "SLOW_API_KEY" in report.runs[1].error and report.status is RunStatus.COMPLETED
    assert {url for url, _ in client.sent} == {"http://127.0.0.1:9000/v1"}


def test_a_campaign_counts_once_against_waiting_runs_and_in_full_against_daily_requests():
    campaigns, _, _ = campaign_world()
    campaigns.quotas = Quotas(queued_runs=1, benchmark_requests_per_day=50)
    with pytest.raises(QuotaExceeded, match="benchmark_requests_per_day"):  # 3 x 20 requests, though each fits
        campaigns.queue(list(SPEEDS), campaigns.benchmarks.plan(20, warmup=0), OPERATOR)
    campaigns.queue(list(SPEEDS), campaigns.benchmarks.plan(10, warmup=0), OPERATOR)  # 3 runs waiting: one campaign
    with pytest.raises(QuotaExceeded, match="queued_runs"):
        campaigns.queue(["fast", "slow"], campaigns.benchmarks.plan(1, warmup=0), OPERATOR)


def test_a_plans_key_leaves_out_the_workloads_seed_and_nothing_else():
    workload = {"input_tokens": 8, "distribution": "fixed", "spread": 0, "seed": 1}
    load = {"shape": "fixed_concurrency", "concurrency": 1}
    base = {"requests": 10, "concurrency": 1, "rate": None, "max_tokens": 256, "load": load, "workload": workload}
    reseeded = base | {"workload": base["workload"] | {"seed": 2}}
    assert plan_key(base) == plan_key(reseeded) and len(plan_key(base)) == 12
    for changed in ({"requests": 11}, {"concurrency": 2}, {"max_tokens": 128},
                    {"workload": base["workload"] | {"distribution": "normal"}}):  # fmt: skip
        assert plan_key(base | changed) != plan_key(base)
    assert describe(base) == "10 requests, concurrency 1, up to 256 tokens out, fixed inputs of 8 tokens"


def test_a_plans_key_is_the_one_stored_runs_and_rollups_were_filed_under():
    """Keys are stored (each endpoint's rollups are filed by them): the same plan must always give
    the same key, the first 12 hex digits of the SHA-256 of its compact, sorted JSON."""
    base = {"requests": 10, "concurrency": 1, "rate": None, "max_tokens": 256,
            "workload": {"input_tokens": 8, "distribution": "fixed", "spread": 0, "seed": 1}}  # fmt: skip
    assert plan_key(base) == "535a04a4aafd"
    derived = {"load": {"shape": "fixed_concurrency", "concurrency": 1}, "prompt_tokens": 80}
    assert plan_key(base | derived) == "535a04a4aafd"  # what follows from the rest changes nothing


def test_a_plan_is_described_by_its_arrivals_its_output_its_prompts_and_its_connections():
    plan = {"requests": 50, "max_tokens": 64, "force_output": True, "prompts": {"sha256": "0" * 64, "count": 2},
            "load": {"shape": "poisson", "rate_per_second": 2.5}, "reuse_connections": False}  # fmt: skip
    assert describe(plan) == (
        "50 requests, poisson arrivals at 2.5/s, exactly 64 tokens out, 2 given prompts, a fresh connection each"
    )
    assert describe({"requests": 5, "max_tokens": 16, "load": {"shape": "gamma", "rate_per_second": 10.0}}) == (
        "5 requests, gamma arrivals at 10/s, up to 16 tokens out"
    )


def test_a_requested_campaign_is_handed_to_a_worker_and_one_that_cannot_be_has_its_runs_failed():
    campaigns, _, _ = campaign_world()
    report = campaigns.request(["fast", "slow"], campaigns.benchmarks.plan(5), OPERATOR)
    assert campaigns.task_queue.enqueued == [report.campaign.id] and report.status is RunStatus.QUEUED
    campaigns.task_queue = FakeTaskQueue(fail=ConnectionError("broker down"))
    with pytest.raises(ConnectionError):
        campaigns.request(["fast", "slow"], campaigns.benchmarks.plan(5), OPERATOR)
    refused = campaigns.get(max(campaigns.uow.store.campaigns))
    assert refused.status is RunStatus.FAILED and refused.endpoints == ["fast", "slow"]
    assert {run.error for run in refused.runs} == {"it could not be handed to a worker: broker down"}


def test_a_campaign_is_ranked_by_endpoint_under_its_plan_once_it_has_finished():
    campaigns, _, _ = campaign_world()
    plan = campaigns.benchmarks.plan(10, warmup=0)
    queued = campaigns.queue(list(SPEEDS), plan, OPERATOR)
    assert campaigns.ranking(queued) is None  # nothing to rank while it runs
    report = campaigns.execute(queued.campaign.id)
    assert report.scope == Scope(source=RunSource.MEASURED, group_by=GroupBy.ENDPOINT, campaign_id=report.campaign.id)
    assert report.plan.key == plan_key(report.runs[0].details["plan"]) and report.plan.runs == 3
    assert [entry.subject.name for entry in campaigns.ranked_on(report, "TTFT").entries] == ["fast", "middle", "slow"]
    overall = campaigns.ranking(report)
    assert overall.statistic is Statistic.MEDIAN and {entry.subject.name for entry in overall.entries} == set(SPEEDS)


@pytest.mark.parametrize(
    "states, status",
    [
        ((RunStatus.QUEUED, RunStatus.QUEUED), RunStatus.QUEUED),
        ((RunStatus.QUEUED, RunStatus.RUNNING), RunStatus.RUNNING),
        ((RunStatus.COMPLETED, RunStatus.QUEUED), RunStatus.RUNNING),
        ((RunStatus.COMPLETED, RunStatus.FAILED), RunStatus.COMPLETED),
        ((RunStatus.FAILED, RunStatus.FAILED), RunStatus.FAILED),
    ],
)
def test_a_campaign_is_finished_once_every_run_is_and_completed_if_any_run_completed(states, status):
    now = datetime(2026, 12, 6, tzinfo=UTC)
    runs = [Run(seed=1, created_at=now, source=RunSource.MEASURED, status=s) for s in states]
    assert CampaignReport(Campaign(created_at=now), runs, ["a", "b"]).status is status


def test_an_unknown_campaign_is_not_found_by_its_id():
    campaigns, _, _ = campaign_world()
    with pytest.raises(NotFound, match=r"^campaign 999 does not exist$"):
        campaigns.get(999)
