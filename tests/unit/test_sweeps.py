"""Sweeps: when they stop, where the knee is, the largest load meeting an SLO, and the use case
that runs the stages (with fakes)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from src.application.domain.errors import InvalidParameter, NotFound, QuotaExceeded
from src.application.domain.model import Caller, Role, Run, RunSource, RunStatus, Sweep, SweepLoad
from src.application.ports.llm_client import ChatRequest, RequestOutcome
from src.application.services.measures import ClientLimits, Slo
from src.application.services.sweeps import Stage, doubling, knee, largest_load_meeting_slo, stop_reason
from src.application.use_cases.quotas import Quotas
from src.application.use_cases.sweeps import SweepSpec, SweepUseCases
from tests.unit.fakes import FakeTaskQueue, FixedClock
from tests.unit.test_benchmark_use_cases import ScriptedClient, benchmarks, ok

OPERATOR = Caller("key:7", Role.OPERATOR)


def sweep(loads: list[float], min_gain: float = 0.05, max_error_rate: float = 0.05) -> Sweep:
    return Sweep(1, SweepLoad.CONCURRENCY, loads, {}, min_gain, max_error_rate, datetime(2026, 12, 4, tzinfo=UTC))


def stage(load: float, tokens_per_second: float, e2e_ms: float = 1000.0, **given: object) -> Stage:
    fields: dict[str, object] = dict.fromkeys(("invalid", "error", "requests_per_second", "mean_in_flight",
                                               "arrivals_held_back", "ttft_p50_ms", "ttft_p99_ms", "itl_p50_ms",
                                               "slo_met"))  # fmt: skip
    fields |= {"requests_sent": 100, "failed_requests": 0, "output_tokens_per_second": tokens_per_second,
               "e2e_p50_ms": e2e_ms, "status": RunStatus.COMPLETED} | given  # fmt: skip
    return Stage(load, int(load), **fields)  # type: ignore[arg-type]


MEASURED = {"requests_sent": 10, "completed": 9, "output_tokens_per_second": 120.0, "requests_per_second": 3.0,
            "mean_in_flight": 3.5, "arrivals_held_back": 2, "ttft_ms": {"p50": 100, "p99": 300},
            "inter_token_latency_ms": {"p50": 20}, "e2e_latency_ms": {"p50": 900},
            "slo": {"met": True}}  # fmt: skip


def test_a_stage_reads_what_its_run_measured():
    run = Run(0, 10, datetime(2026, 12, 4, tzinfo=UTC), RunSource.MEASURED, RunStatus.COMPLETED, details=MEASURED, id=5)
    assert Stage.of(run, 4) == Stage(4, 5, RunStatus.COMPLETED, None, None, 10, 1, 120.0, 3.0, 3.5, 2, 100.0,
                                     300.0, 20.0, 900.0, True)  # fmt: skip
    before = Run(0, 10, datetime(2026, 12, 4, tzinfo=UTC), RunSource.MEASURED, RunStatus.COMPLETED,
                 details={k: v for k, v in MEASURED.items() if k != "mean_in_flight"}, id=5)  # fmt: skip
    assert Stage.of(before, 4).mean_in_flight is None  # a run measured before it was reported


def test_a_failed_stage_has_no_throughput_or_slo_and_one_failed_before_sending_has_no_counts():
    failed = Run(0, 10, datetime(2026, 12, 4, tzinfo=UTC), RunSource.MEASURED, RunStatus.FAILED, error="boom",
                 details=MEASURED | {"completed": 0}, id=6)  # fmt: skip
    assert Stage.of(failed, 2) == Stage(2, 6, RunStatus.FAILED, None, "boom", 10, 10, None, None, None, None, 100.0,
                                        300.0, 20.0, 900.0, None)  # fmt: skip
    unsent = Run(0, 10, datetime(2026, 12, 4, tzinfo=UTC), RunSource.MEASURED, RunStatus.FAILED, error="no key",
                 details={"plan": {}}, id=7)  # fmt: skip
    assert Stage.of(unsent, 2) == Stage(2, 7, RunStatus.FAILED, None, "no key", 0, 0, *[None] * 9)


def test_a_sweep_goes_on_while_throughput_rises_and_stops_once_it_rises_less_than_its_min_gain():
    loads = [1.0, 2.0, 4.0, 8.0, 16.0]
    assert stop_reason(sweep(loads), [stage(1, 100), stage(2, 190)]) is None
    assert stop_reason(sweep(loads), [stage(1, 100), stage(2, 190), stage(4, 199)]) == (
        "saturated: throughput at concurrency 4 (199 tokens/s) rose +4.7% over concurrency 2's (less than 5%)"
    )
    # Measured against the best stage before, not the last: a dip does not reset the bar.
    assert stop_reason(sweep(loads, min_gain=0.0), [stage(1, 100), stage(2, 190), stage(4, 150)]).startswith(
        "saturated: throughput at concurrency 4 (150 tokens/s) rose -21.1%"
    )


def test_a_sweep_stops_at_errors_past_its_threshold_a_client_bound_stage_a_failed_one_or_its_last_load():
    loads = [1.0, 2.0, 4.0]
    erring = stage(2, 300, failed_requests=6)
    erred = "6% of the requests failed at concurrency 2 (more than 5%)"
    assert stop_reason(sweep(loads), [stage(1, 100), erring]) == erred
    assert stop_reason(sweep(loads, max_error_rate=0.06), [stage(1, 100), erring]) is None
    bound = stage(2, 300, invalid="client-bound: lag")
    bottleneck = stop_reason(sweep(loads), [stage(1, 100), bound])
    assert bottleneck.startswith("the client was the bottleneck at concurrency 2")
    failed = stage(1, 0, status=RunStatus.FAILED, error="no request succeeded (connection: 5)")
    assert stop_reason(sweep(loads), [failed]) == (
        "the stage at concurrency 1 failed: no request succeeded (connection: 5)"
    )
    assert stop_reason(sweep(loads), [stage(1, 100), stage(2, 200), stage(4, 400)]) == "every load was measured"


def test_the_knee_is_the_stage_of_most_throughput_per_second_of_median_latency():
    stages = [stage(1, 100, 1000), stage(2, 190, 1050), stage(4, 300, 1500), stage(8, 320, 3000)]
    # Powers: 100, 181, 200 and 107 tokens/s per second of latency.
    assert knee(stages) == stages[2] and stages[2].power == pytest.approx(200.0)
    untrusted = [stage(1, 100, 1000), stage(2, 400, 1000, invalid="client-bound: cpu")]
    assert knee(untrusted) == untrusted[0]  # a client-bound stage measured its client
    assert knee([]) is None


def test_the_largest_load_meeting_the_slo_is_the_highest_trusted_stage_that_met_it():
    stages = [stage(1, 100, slo_met=True), stage(2, 190, slo_met=True), stage(4, 300, slo_met=False),
              stage(8, 320, slo_met=True, invalid="client-bound: lag")]  # fmt: skip
    assert largest_load_meeting_slo(stages) == 2
    assert largest_load_meeting_slo([stage(1, 100)]) is None  # no SLO asked


def test_doubling_loads_run_from_the_start_to_the_last_within_the_limit():
    assert doubling(1, 100) == [1, 2, 4, 8, 16, 32, 64]
    assert doubling(5, 5) == [5]
    assert doubling(1, 64) == [1, 2, 4, 8, 16, 32, 64] and doubling(3, 11) == [3, 6]


def test_a_stage_that_held_too_little_of_its_load_tells_no_saturation():
    """64 requests at concurrency 48 are a round and a third: the stage held 32.8 in flight, hardly
    more than the stage at 32 did, and its throughput rose as little; the endpoint had room to spare."""
    drained = [stage(32, 4663, mean_in_flight=31.2), stage(48, 4789, mean_in_flight=32.8)]
    assert stop_reason(sweep([32.0, 48.0, 64.0]), drained) is None
    # Half the load's rise (48 over 32: +50%) in flight is enough: 31.2 x 1.25 = 39.
    held = [stage(32, 4663, mean_in_flight=31.2), stage(48, 4789, mean_in_flight=39.0)]
    assert stop_reason(sweep([32.0, 48.0, 64.0]), held).startswith("saturated: throughput at concurrency 48")
    short = [stage(32, 4663, mean_in_flight=31.2), stage(48, 4789, mean_in_flight=38.9)]
    assert stop_reason(sweep([32.0, 48.0, 64.0]), short) is None
    rates = replace(sweep([2.0, 4.0]), load=SweepLoad.RATE)  # at a rate, requests queue up in flight
    assert stop_reason(rates, [stage(2, 100, mean_in_flight=1.0), stage(4, 101, mean_in_flight=9.0)]) is not None
    assert stop_reason(sweep([32.0, 48.0, 64.0]), [stage(32, 4663), stage(48, 4789)]) is not None  # not reported
    # A sweep measured across an upgrade: its stage before reported nothing, so nothing to compare with.
    upgraded = [stage(32, 4663), stage(48, 4789, mean_in_flight=32.8)]
    assert stop_reason(sweep([32.0, 48.0, 64.0]), upgraded).startswith("saturated: throughput at concurrency 48")


def test_a_stage_at_a_rate_whose_arrivals_waited_for_a_slot_ends_the_sweep_naming_the_concurrency():
    """At most one in flight (the default) and 0.7 s a request: arrivals at 4 a second wait for the
    slot. The stage measured a concurrency of 1, and every higher rate would too."""
    rates = replace(sweep([2.0, 4.0, 8.0]), load=SweepLoad.RATE, plan={"concurrency": 1})
    waited = [
        stage(2, 80, requests_sent=40, arrivals_held_back=2),
        stage(4, 160, requests_sent=40, arrivals_held_back=3),
    ]
    assert stop_reason(rates, waited) == (
        "3 of 40 arrivals at rate 4 waited for a slot: the stage measured the plan's concurrency (1), not its rate; "
        "give a higher one"
    )
    assert stop_reason(rates, waited[:1]) is None  # 2 of 40, 5%, is not more than HELD_BACK
    flat = [waited[0], stage(4, 81, requests_sent=40, arrivals_held_back=30)]
    assert stop_reason(rates, flat).startswith("saturated: throughput at rate 4")  # saturation is the finding


def test_a_gain_of_exactly_min_gain_goes_on_and_a_stage_that_sent_nothing_has_no_error_rate():
    assert stop_reason(sweep([1.0, 2.0, 4.0], min_gain=0.5), [stage(1, 100), stage(2, 150)]) is None
    assert stage(1, 100, requests_sent=0).error_rate == 0.0


class SaturatingClient(ScriptedClient):
    """An endpoint that serves 4 requests at once at full speed: beyond that, each waits its turn,
    so throughput stops rising past concurrency 4."""

    def __init__(self) -> None:
        super().__init__(ok(0.01, 0.02, 10))
        self.in_flight = 0

    async def stream(self, request: ChatRequest) -> RequestOutcome:
        self.requests.append(request)
        self.in_flight += 1
        started = time.perf_counter()
        await asyncio.sleep(0.02 * max(1.0, self.in_flight / 4))
        self.in_flight -= 1
        finished = time.perf_counter()
        return RequestOutcome(started, finished, started + 0.005, 10, 25, tokens_from_usage=True)


def sweeps(client: ScriptedClient, quotas: Quotas | None = None) -> tuple[SweepUseCases, FakeTaskQueue]:
    # Limits well above a busy host's noise: a stall of the host must not mark a stage of a client
    # that only waits client-bound (which would stop the sweep there; stop_reason's tests cover it).
    use_cases, uow, _ = benchmarks(client, client_limits=ClientLimits(loop_lag_ms=200.0))
    queue = FakeTaskQueue()
    return SweepUseCases(uow, use_cases, queue, FixedClock(), quotas or Quotas()), queue


def test_a_sweep_runs_a_stage_a_load_until_the_endpoint_saturates_and_reports_its_curve():
    use_cases, queue = sweeps(SaturatingClient())
    plan = use_cases.benchmarks.plan(32, warmup=0, slo=Slo(e2e_ms=30.0))
    queued = use_cases.request("fake", plan, SweepSpec(SweepLoad.CONCURRENCY, (1, 2, 4, 8, 16), min_gain=0.2), OPERATOR)
    assert queue.enqueued == [queued.id] and queued.status is RunStatus.QUEUED

    report = use_cases.execute(queued.id)
    assert report.sweep.status is RunStatus.COMPLETED
    stages = [s.load for s in report.stages]
    assert stages == [1, 2, 4, 8], report.sweep.stop_reason  # 8 is no faster than 4: it stops there
    assert report.sweep.stop_reason.startswith("saturated: throughput at concurrency 8")
    throughputs = [s.output_tokens_per_second for s in report.stages]
    assert throughputs[1] > 1.6 * throughputs[0] and throughputs[2] > 1.6 * throughputs[1]
    assert report.knee is not None and report.knee.load == 4  # full speed, and the most of it
    assert report.largest_load_meeting_slo == 4  # at 8 a request waits 40 ms, past the 30 ms asked
    with use_cases.uow:
        runs = use_cases.uow.runs.of_sweep(queued.id)
    assert [run.details["plan"]["concurrency"] for run in runs] == [1, 2, 4, 8]
    assert {run.requested_by for run in runs} == {"key:7"}  # its stages count against its caller
    assert use_cases.execute(queued.id).stages == report.stages  # a message again runs nothing again


def test_a_sweep_is_refused_whole_when_its_stages_together_pass_a_quota():
    use_cases, queue = sweeps(SaturatingClient(), Quotas(benchmark_requests_per_day=100))
    plan = use_cases.benchmarks.plan(30, warmup=0)
    with pytest.raises(QuotaExceeded):
        use_cases.request("fake", plan, SweepSpec(SweepLoad.CONCURRENCY, (1, 2, 4, 8)), OPERATOR)  # 120 requests
    assert queue.enqueued == []
    use_cases.request("fake", plan, SweepSpec(SweepLoad.CONCURRENCY, (1, 2, 4)), OPERATOR)  # 90 requests


@pytest.mark.parametrize(
    ("spec", "message", "parameter"),
    [
        ({"loads": (1,)}, "the number of loads must be between 2 and 12, got 1", "loads"),
        ({"loads": tuple(range(1, 14))}, "the number of loads must be between 2 and 12, got 13", "loads"),
        ({"loads": (1, 2000)}, "concurrency must be between 1 and 1000, got 2000", "concurrency"),
        ({"loads": (1, 2.5)}, "concurrency loads are whole numbers, got 2.5", "loads"),
        ({"loads": (4, 2)}, "a sweep's loads must rise, each above the one before", "loads"),
        ({"loads": (2, 2)}, "a sweep's loads must rise, each above the one before", "loads"),
        ({"load": SweepLoad.RATE, "loads": (0, 2)}, "rate must be above 0 and at most 1000, got 0", "rate"),
        ({"loads": (1, 2), "min_gain": -0.1}, "min_gain must be between 0 and 1, got -0.1", "min_gain"),
        ({"loads": (1, 2), "max_error_rate": 1.5}, "max_error_rate must be between 0 and 1, got 1.5", "max_error_rate"),
        ({"loads": (1, 2, 11)}, "each stage sends 10 requests: concurrency 11 would never have them all in flight; give"
                             " at least as many requests as the largest load", "requests"),
        ({"load": SweepLoad.RATE, "loads": (0.01, 2)}, "10 requests at 0.01 per second take about 1,000 s", None),
    ],
)  # fmt: skip
def test_a_sweep_with_loads_it_cannot_run_is_refused_naming_them(spec, message, parameter):
    use_cases, queue = sweeps(SaturatingClient())
    with pytest.raises(InvalidParameter) as refused:
        use_cases.request("fake", use_cases.benchmarks.plan(10), SweepSpec(**{"load": SweepLoad.CONCURRENCY} | spec),
                          OPERATOR)  # fmt: skip
    assert message in str(refused.value) and queue.enqueued == []
    if parameter:
        assert (str(refused.value), refused.value.parameter) == (message, parameter)


def test_a_sweep_may_reach_a_concurrency_of_as_many_requests_as_each_stage_sends():
    use_cases, _ = sweeps(SaturatingClient())
    assert use_cases.queue("fake", use_cases.benchmarks.plan(10), SweepSpec(SweepLoad.CONCURRENCY, (1, 10)), OPERATOR)


def test_only_operators_start_sweeps():
    use_cases, _ = sweeps(SaturatingClient())
    with pytest.raises(Exception, match="starting a sweep needs the role operator or admin"):
        spec = SweepSpec(SweepLoad.RATE, (1, 2))
        use_cases.request("fake", use_cases.benchmarks.plan(10), spec, Caller("key:8", Role.READER))


def test_a_sweep_that_cannot_be_handed_to_a_worker_is_failed_saying_so_and_reported_as_it_is():
    use_cases, _ = sweeps(SaturatingClient())
    use_cases.task_queue = FakeTaskQueue(fail=ConnectionError("broker down"))
    with pytest.raises(ConnectionError):
        use_cases.request("fake", use_cases.benchmarks.plan(10), SweepSpec(SweepLoad.CONCURRENCY, (1, 2)), OPERATOR)
    [failed] = use_cases.of_endpoint("fake")
    assert failed.sweep.status is RunStatus.FAILED
    assert failed.sweep.stop_reason == "it could not be handed to a worker: broker down"
    assert use_cases.execute(failed.sweep.id).stages == [] and use_cases.benchmarks.client.requests == []


def test_a_sweep_whose_stage_is_under_way_is_left_to_the_worker_running_it():
    use_cases, _ = sweeps(SaturatingClient())
    plan = use_cases.benchmarks.plan(10, warmup=0)
    queued = use_cases.queue("fake", plan, SweepSpec(SweepLoad.CONCURRENCY, (1, 2)), OPERATOR)
    use_cases.benchmarks.queue("fake", plan, OPERATOR, queued.id)  # its first stage, queued by another worker
    report = use_cases.execute(queued.id)
    assert [stage.status for stage in report.stages] == [RunStatus.QUEUED] and report.sweep.status is RunStatus.QUEUED
    assert use_cases.benchmarks.client.requests == []


def test_a_sweep_whose_worker_stopped_after_its_last_stage_is_finished_by_the_next_message_without_sending():
    use_cases, _ = sweeps(SaturatingClient())
    queued = use_cases.queue("fake", use_cases.benchmarks.plan(8, warmup=0),
                             SweepSpec(SweepLoad.CONCURRENCY, (1, 2)), OPERATOR)  # fmt: skip
    use_cases.execute(queued.id)
    sent = len(use_cases.benchmarks.client.requests)
    assert sent == 2 * 8
    with use_cases.uow:  # as if its worker died before marking it finished
        use_cases.uow.sweeps.get(queued.id).status = RunStatus.RUNNING
        use_cases.uow.commit()
    again = use_cases.execute(queued.id)
    assert again.sweep.status is RunStatus.COMPLETED and again.sweep.stop_reason == "every load was measured"
    assert [stage.load for stage in again.stages] == [1, 2] and len(use_cases.benchmarks.client.requests) == sent


def test_a_sweeps_stages_are_paid_for_when_it_is_asked_for_not_again_as_they_run():
    use_cases, _ = sweeps(SaturatingClient(), Quotas(benchmark_requests_per_day=20))
    queued = use_cases.queue(
        "fake", use_cases.benchmarks.plan(10, warmup=0), SweepSpec(SweepLoad.CONCURRENCY, (1, 2)), OPERATOR
    )  # 2 x 10 requests: the whole quota
    use_cases.benchmarks.lifecycle.quotas = Quotas(benchmark_requests_per_day=0)  # lowered meanwhile
    assert use_cases.execute(queued.id).sweep.status is RunStatus.COMPLETED


class FailingClient(SaturatingClient):
    async def stream(self, request: ChatRequest) -> RequestOutcome:
        raise RuntimeError("the client broke")


def test_a_stage_that_breaks_fails_its_sweep_naming_the_stage_and_the_fault():
    use_cases, _ = sweeps(FailingClient())
    queued = use_cases.queue("fake", use_cases.benchmarks.plan(4, warmup=0),
                             SweepSpec(SweepLoad.CONCURRENCY, (1, 2)), OPERATOR)  # fmt: skip
    with pytest.raises(ExceptionGroup):  # the run's task group's, raised as the run's use case does
        use_cases.execute(queued.id)
    failed = use_cases.get(queued.id).sweep
    assert failed.status is RunStatus.FAILED
    assert failed.stop_reason == "the stage at concurrency 1 failed: RuntimeError: the client broke"


def test_an_endpoints_newest_sweeps_come_first_three_unless_asked_and_an_unknown_sweep_is_named():
    use_cases, _ = sweeps(SaturatingClient())
    spec = SweepSpec(SweepLoad.CONCURRENCY, (1, 2))
    ids = [use_cases.queue("fake", use_cases.benchmarks.plan(10), spec, OPERATOR).id for _ in range(4)]
    assert [report.sweep.id for report in use_cases.of_endpoint("fake")] == ids[:0:-1]
    assert [report.sweep.id for report in use_cases.of_endpoint("fake", limit=4)] == ids[::-1]
    with pytest.raises(NotFound, match=r"^sweep 999 does not exist$"):
        use_cases.get(999)


class WatchingClient(SaturatingClient):
    """Notes the sweeps' states as each request goes out."""

    def __init__(self) -> None:
        super().__init__()
        self.uow = None
        self.states: set[RunStatus] = set()

    async def stream(self, request: ChatRequest) -> RequestOutcome:
        self.states.update(sweep.status for sweep in self.uow.store.sweeps.values())  # as committed
        return await super().stream(request)


def test_a_sweep_is_running_while_its_stages_are_measured():
    client = WatchingClient()
    use_cases, _ = sweeps(client)
    client.uow = use_cases.uow
    queued = use_cases.queue("fake", use_cases.benchmarks.plan(4, warmup=0),
                             SweepSpec(SweepLoad.CONCURRENCY, (1, 2)), OPERATOR)  # fmt: skip
    assert use_cases.execute(queued.id).sweep.status is RunStatus.COMPLETED
    assert client.states == {RunStatus.RUNNING}
