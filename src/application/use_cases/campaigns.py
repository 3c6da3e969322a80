"""Campaigns: several endpoints measured with one plan in the same time window, ranked as soon
as they end.

Every endpoint gets the same seeded prompts in the same order on the same arrival schedule, side by
side from one worker's event loop (BenchmarkUseCases.measure_together), each with its own
connections and requests in flight: what the hour does to the network and to shared providers
falls on all of them alike, and no endpoint waits for another. Their runs rank by endpoint, under
the one plan, with the campaign's id (use_cases/rankings.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from injector import inject

from src.application.domain import bounds
from src.application.domain.errors import InvalidParameter, NotFound
from src.application.domain.model import Caller, Campaign, Role, Run, RunSource, RunStatus
from src.application.domain.ranking import GroupBy, MetricRanking, OverallRanking, PlanChoice, Scope, Statistic
from src.application.ports.clock import Clock
from src.application.ports.task_queue import AbstractTaskQueue
from src.application.ports.unit_of_work import AbstractUnitOfWork
from src.application.services.plans import choice
from src.application.use_cases.benchmarks import BenchmarkPlan, BenchmarkUseCases
from src.application.use_cases.quotas import Quotas, Work, enforce_quotas
from src.application.use_cases.rankings import RankingUseCases


@dataclass(frozen=True)
class CampaignReport:
    campaign: Campaign
    runs: list[Run]  # one per endpoint, in the order asked
    endpoints: list[str]  # their endpoints' names, in the same order

    @property
    def status(self) -> RunStatus:
        """Its runs' state: finished once every run is, completed if any run completed."""
        states = {run.status for run in self.runs}
        if states <= {RunStatus.COMPLETED, RunStatus.FAILED}:
            return RunStatus.COMPLETED if RunStatus.COMPLETED in states else RunStatus.FAILED
        return RunStatus.QUEUED if states == {RunStatus.QUEUED} else RunStatus.RUNNING

    @property
    def plan(self) -> PlanChoice:
        return choice(self.runs)

    @property
    def scope(self) -> Scope:
        """Its runs, ranked by endpoint."""
        return Scope(source=RunSource.MEASURED, group_by=GroupBy.ENDPOINT, campaign_id=self.campaign.id)


class CampaignUseCases:
    @inject
    def __init__(
        self,
        uow: AbstractUnitOfWork,
        benchmarks: BenchmarkUseCases,
        rankings: RankingUseCases,
        task_queue: AbstractTaskQueue,
        clock: Clock,
        quotas: Quotas,
    ):
        self.uow = uow
        self.benchmarks = benchmarks
        self.rankings = rankings
        self.task_queue = task_queue
        self.clock = clock
        self.quotas = quotas

    def queue(self, endpoint_names: list[str], plan: BenchmarkPlan, caller: Caller) -> CampaignReport:
        """Record a campaign and its runs, one per endpoint, within the caller's quotas for all
        of them (a campaign counts once against the runs one may have waiting)."""
        caller.require(Role.OPERATOR, "starting a campaign")
        bounds.CAMPAIGN_ENDPOINTS.check("the number of endpoints", len(endpoint_names), parameter="endpoints")
        if len(set(endpoint_names)) != len(endpoint_names):
            raise InvalidParameter("a campaign measures each endpoint once", parameter="endpoints")
        streams, ceiling = plan.concurrency * len(endpoint_names), self.benchmarks.settings.streams_per_worker
        if streams > ceiling:
            raise InvalidParameter(
                f"a campaign is sent from one worker: {len(endpoint_names)} endpoints x concurrency "
                f"{plan.concurrency} = {streams} streams, more than one holds ({ceiling}, "
                "BENCHMARK_STREAMS_PER_WORKER)",
                parameter="concurrency",
            )
        endpoints = [self.benchmarks.endpoint(name) for name in endpoint_names]
        prompt_tokens = self.benchmarks.prompt_tokens(plan)
        self.benchmarks.keep_prompts(plan)
        each = plan.work(prompt_tokens)
        campaign = Campaign(created_at=self.clock.now(), requested_by=caller.identity)
        seed = bounds.fresh_seed()  # one arrival schedule for all
        with self.uow:
            enforce_quotas(self.uow, caller, self.quotas, campaign.created_at, sum([each] * len(endpoints), Work()))
            self.uow.campaigns.add(campaign)
            runs = [self.benchmarks.new_run(e, plan, caller, prompt_tokens, seed, campaign_id=campaign.id)
                    for e in endpoints]  # fmt: skip
            for run in runs:
                self.uow.runs.add(run)
            self.uow.commit()
        return CampaignReport(campaign, runs, list(endpoint_names))

    def request(self, endpoint_names: list[str], plan: BenchmarkPlan, caller: Caller) -> CampaignReport:
        """Queue a campaign for a worker; one that cannot be handed over has its runs failed."""
        report = self.queue(endpoint_names, plan, caller)
        assert report.campaign.id is not None
        try:
            self.task_queue.enqueue_campaign(report.campaign.id)
        except Exception as error:
            self.benchmarks.fail(
                [run.id for run in report.runs if run.id], f"it could not be handed to a worker: {error}"
            )
            raise
        return report

    def execute(self, campaign_id: int) -> CampaignReport:
        """Measure the campaign's endpoints together; runs already finished are left as they are."""
        report = self.get(campaign_id)
        waiting = [run.id for run in report.runs if run.id is not None and not run.is_finished]
        if waiting:
            self.benchmarks.measure_together(waiting)
        return self.get(campaign_id)

    def ranking(self, report: CampaignReport) -> OverallRanking | None:
        """A finished campaign's endpoints ranked on every metric's median; None while it runs."""
        if report.status is not RunStatus.COMPLETED:
            return None
        return self.rankings.rank_overall(statistic=Statistic.MEDIAN, scope=report.scope)

    def ranked_on(self, report: CampaignReport, metric_name: str) -> MetricRanking:
        """Its endpoints ranked on one metric's median."""
        return self.rankings.rank_metric(metric_name, Statistic.MEDIAN, report.scope)

    def get(self, campaign_id: int) -> CampaignReport:
        with self.uow:
            campaign = self.uow.campaigns.get(campaign_id)
            if campaign is None:
                raise NotFound(f"campaign {campaign_id} does not exist")
            runs = self.uow.runs.of_campaign(campaign_id)
            names = {e.id: e.name for e in self.uow.endpoints.list()}
        return CampaignReport(campaign, runs, [names[run.endpoint_id] for run in runs])
