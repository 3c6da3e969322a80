"""Sweeps: one plan measured at rising loads, a stage (a measured run) at a time, until the
endpoint saturates (services/sweeps.py says when), and what the curve says."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from injector import inject

from src.application.domain import bounds
from src.application.domain.errors import InvalidParameter, NotFound
from src.application.domain.model import Caller, Role, RunStatus, Sweep, SweepLoad
from src.application.ports.clock import Clock
from src.application.ports.task_queue import AbstractTaskQueue
from src.application.ports.unit_of_work import AbstractUnitOfWork
from src.application.services.sweeps import Stage, knee, largest_load_meeting_slo, stop_reason
from src.application.use_cases.benchmarks import BenchmarkPlan, BenchmarkUseCases
from src.application.use_cases.quotas import Quotas, Work, enforce_quotas
from src.application.use_cases.run_lifecycle import described


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep raises, through which loads, and when it stops (services/sweeps.py)."""

    load: SweepLoad
    loads: tuple[float, ...]
    min_gain: float = 0.05
    max_error_rate: float = 0.05

    def __post_init__(self) -> None:
        bounds.SWEEP_STAGES.check("the number of loads", len(self.loads), parameter="loads")
        for value in self.loads:
            (bounds.STREAMS if self.load is SweepLoad.CONCURRENCY else bounds.RATE).check(str(self.load), value)
            if self.load is SweepLoad.CONCURRENCY and value != int(value):
                raise InvalidParameter(f"concurrency loads are whole numbers, got {value}", parameter="loads")
        if sorted(set(self.loads)) != list(self.loads):
            raise InvalidParameter("a sweep's loads must rise, each above the one before", parameter="loads")
        bounds.MIN_GAIN.check("min_gain", self.min_gain)
        bounds.MAX_ERROR_RATE.check("max_error_rate", self.max_error_rate)


@dataclass(frozen=True)
class SweepReport:
    sweep: Sweep
    endpoint: str
    stages: list[Stage]
    knee: Stage | None
    largest_load_meeting_slo: float | None


class SweepUseCases:
    @inject
    def __init__(
        self,
        uow: AbstractUnitOfWork,
        benchmarks: BenchmarkUseCases,
        task_queue: AbstractTaskQueue,
        clock: Clock,
        quotas: Quotas,
    ):
        self.uow = uow
        self.benchmarks = benchmarks
        self.task_queue = task_queue
        self.clock = clock
        self.quotas = quotas

    def queue(self, endpoint_name: str, plan: BenchmarkPlan, spec: SweepSpec, caller: Caller) -> Sweep:
        """Record a sweep, within the caller's quotas for every one of its stages."""
        caller.require(Role.OPERATOR, "starting a sweep")
        if spec.load is SweepLoad.CONCURRENCY and plan.requests < spec.loads[-1]:
            raise InvalidParameter(
                f"each stage sends {plan.requests} requests: concurrency {spec.loads[-1]:g} would never have them "
                "all in flight; give at least as many requests as the largest load",
                parameter="requests",
            )
        if spec.load is SweepLoad.RATE:  # the slowest stage's arrivals must fit in a run's time, as a plan's do
            self.benchmarks.plan(plan.requests, concurrency=plan.concurrency, rate=spec.loads[0])
        endpoint = self.benchmarks.endpoint(endpoint_name)
        assert endpoint.id is not None
        prompt_tokens = self.benchmarks.prompt_tokens(plan)
        stage_work = plan.work(prompt_tokens)
        sweep = Sweep(
            endpoint_id=endpoint.id,
            load=spec.load,
            loads=list(spec.loads),
            plan=asdict(plan),
            min_gain=spec.min_gain,
            max_error_rate=spec.max_error_rate,
            created_at=self.clock.now(),
            requested_by=caller.identity,
        )
        with self.uow:
            all_stages = sum([stage_work] * len(spec.loads), Work())
            enforce_quotas(self.uow, caller, self.quotas, sweep.created_at, all_stages)
            self.uow.sweeps.add(sweep)
            self.uow.commit()
        return sweep

    def request(self, endpoint_name: str, plan: BenchmarkPlan, spec: SweepSpec, caller: Caller) -> Sweep:
        """Queue a sweep for the workers; a sweep that cannot be handed over is failed."""
        sweep = self.queue(endpoint_name, plan, spec, caller)
        assert sweep.id is not None
        try:
            self.task_queue.enqueue_sweep(sweep.id)
        except Exception as error:
            self._mark(sweep.id, RunStatus.FAILED, f"it could not be handed to a worker: {error}")
            raise
        return sweep

    def execute(self, sweep_id: int) -> SweepReport:
        """Run the sweep's stages in turn until one says stop; a finished sweep is reported as it is."""
        report = self.get(sweep_id)
        sweep, stages = report.sweep, list(report.stages)
        under_way = any(stage.status in (RunStatus.QUEUED, RunStatus.RUNNING) for stage in stages)
        if sweep.status in (RunStatus.COMPLETED, RunStatus.FAILED) or under_way:
            return report  # finished, or the worker running a stage carries the sweep on
        self._mark(sweep_id, RunStatus.RUNNING)
        # The stages a message delivered again finds already run are not run again.
        reason = stop_reason(sweep, stages) if stages else None
        stage_caller = Caller(sweep.requested_by or "sweep", Role.OPERATOR, limited=False)  # paid when asked
        while reason is None:
            load = sweep.loads[len(stages)]
            try:
                run = self.benchmarks.queue(report.endpoint, self._stage_plan(sweep, load), stage_caller, sweep_id)
                assert run.id is not None
                run = self.benchmarks.execute(run.id)
            except Exception as error:
                self._mark(sweep_id, RunStatus.FAILED, f"the stage at {sweep.load} {load:g} failed: {described(error)}")
                raise
            stages.append(Stage.of(run, load))
            reason = stop_reason(sweep, stages)
        self._mark(sweep_id, RunStatus.COMPLETED, reason)
        return self.get(sweep_id)

    @staticmethod
    def _stage_plan(sweep: Sweep, load: float) -> BenchmarkPlan:
        plan = BenchmarkPlan.of(sweep.plan)
        if sweep.load is SweepLoad.CONCURRENCY:
            return replace(plan, concurrency=int(load))
        return replace(plan, rate=load)

    def _mark(self, sweep_id: int, status: RunStatus, reason: str | None = None) -> None:
        """Running, or finished (completed or failed) for this reason."""
        with self.uow:
            sweep = self.uow.sweeps.get(sweep_id)
            assert sweep is not None
            if reason is None:
                sweep.status = status
            else:
                sweep.finish(self.clock.now(), status, reason)
            self.uow.commit()

    def of_endpoint(self, endpoint_name: str, limit: int = 3) -> list[SweepReport]:
        """The endpoint's newest sweeps, newest first."""
        endpoint = self.benchmarks.endpoint(endpoint_name)
        assert endpoint.id is not None
        with self.uow:
            sweeps = self.uow.sweeps.of_endpoint(endpoint.id, limit)
        return [self.get(sweep.id) for sweep in sweeps if sweep.id is not None]

    def get(self, sweep_id: int) -> SweepReport:
        with self.uow:
            sweep = self.uow.sweeps.get(sweep_id)
            if sweep is None:
                raise NotFound(f"sweep {sweep_id} does not exist")
            endpoint = self.uow.endpoints.get(sweep.endpoint_id)
            runs = self.uow.runs.of_sweep(sweep_id)
        assert endpoint is not None
        stages = [Stage.of(run, load) for run, load in zip(runs, sweep.loads, strict=False)]
        return SweepReport(sweep, endpoint.name, stages, knee(stages), largest_load_meeting_slo(stages))
