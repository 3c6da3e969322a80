"""Roles and quotas on the work callers may start: checked in the core, counted per caller."""

from datetime import UTC, datetime, timedelta

import pytest

from src.application.domain.errors import Forbidden, InvalidParameter, QuotaExceeded
from src.application.domain.model import COMMAND_LINE, Caller, Role, Run, RunSource, RunStatus
from src.application.services.workloads import Workload
from src.application.use_cases.accounts import AccountSettings, AccountUseCases
from src.application.use_cases.benchmarks import BenchmarkSettings, BenchmarkUseCases
from src.application.use_cases.quotas import Quotas, Work, work_of
from tests.unit.fakes import FakeCache, FakeTaskQueue, FixedClock, seeded_uow
from tests.unit.test_benchmark_use_cases import Resolver, WordTokenizer
from tests.unit.test_simulation_use_cases import RecordingTelemetry, simulations

OPERATOR = Caller("key:7", Role.OPERATOR)


def benchmarks(quotas: Quotas, **settings) -> BenchmarkUseCases:
    uow = seeded_uow()
    use_cases = BenchmarkUseCases(
        uow, None, WordTokenizer(), None, Resolver(**{"api.example.com": ["93.184.216.34"]}), FakeTaskQueue(),
        FakeCache(), FixedClock(),
        BenchmarkSettings(**{"prompt": "Hi", **settings}),  # a prompt of one token (a word, to this tokenizer)
        RecordingTelemetry(), quotas,
    )  # fmt: skip
    use_cases.add_endpoint("paid", "GPT-4o", "https://api.example.com/v1", "gpt-4o", None)
    return use_cases


def test_a_reader_cannot_start_runs_and_an_operator_can():
    use_cases, _, _ = simulations()
    with pytest.raises(Forbidden, match="needs the role operator or admin; this key is a reader key"):
        use_cases.request(samples_per_pair=10, caller=Caller("key:1", Role.READER))
    run = use_cases.request(samples_per_pair=10, caller=OPERATOR)
    assert run.requested_by == "key:7"


def test_runs_waiting_at_once_are_capped_per_caller_and_free_again_once_they_end():
    use_cases, uow, _ = simulations(quotas=Quotas(queued_runs=2))
    first = use_cases.request(samples_per_pair=10, caller=OPERATOR)
    use_cases.request(samples_per_pair=10, caller=OPERATOR)
    with pytest.raises(QuotaExceeded) as refused:
        use_cases.request(samples_per_pair=10, caller=OPERATOR)
    assert (refused.value.quota, refused.value.limit, refused.value.used) == ("queued_runs", 2, 2)
    use_cases.request(samples_per_pair=10, caller=Caller("key:8", Role.OPERATOR))  # another key's own count
    use_cases.execute(first.id)
    assert uow.store.runs[first.id].status is RunStatus.COMPLETED
    use_cases.request(samples_per_pair=10, caller=OPERATOR)


def test_an_accounts_keys_share_its_quotas_and_a_new_key_is_no_new_allowance():
    use_cases, uow, _ = simulations(quotas=Quotas(queued_runs=2, samples_per_day=48 * 1000))
    accounts = AccountUseCases(uow, use_cases.clock, AccountSettings(bootstrap_api_key=None))
    ada = accounts.register("ada@example.com", "Correct-Horse-42")
    accounts.set_role("ada@example.com", Role.OPERATOR)
    laptop, ci = (accounts.authenticate(accounts.issue_api_key(name, ada.id, Role.OPERATOR).secret)
                  for name in ("laptop", "ci"))  # fmt: skip
    first = use_cases.request(samples_per_pair=10, caller=laptop)
    use_cases.request(samples_per_pair=10, caller=ci)
    with pytest.raises(QuotaExceeded) as refused:
        use_cases.request(samples_per_pair=10, caller=ci)
    assert (refused.value.quota, refused.value.used) == ("queued_runs", 2)  # the laptop's run counted too
    accounts.revoke_api_key(ada.id, int(laptop.identity.removeprefix("key:")))
    fresh = accounts.authenticate(accounts.issue_api_key("fresh", ada.id, Role.OPERATOR).secret)
    with pytest.raises(QuotaExceeded, match="queued_runs"):
        use_cases.request(samples_per_pair=10, caller=fresh)  # the revoked key's run still waits
    use_cases.execute(first.id)
    with pytest.raises(QuotaExceeded, match="samples_per_day exceeded: 960 used of 48,000, this asks 48,048"):
        use_cases.request(samples_per_pair=1001, caller=fresh)  # the day's samples: every key's
    other = accounts.register("bob@example.com", "Correct-Horse-42")
    accounts.set_role("bob@example.com", Role.OPERATOR)
    bobs = accounts.authenticate(accounts.issue_api_key("bob", other.id, Role.OPERATOR).secret)
    use_cases.request(samples_per_pair=1000, caller=bobs)  # another account's own


def test_samples_per_day_count_every_run_asked_for_in_the_last_24_hours():
    use_cases, _, _ = simulations(quotas=Quotas(queued_runs=100, samples_per_day=48 * 1000))
    use_cases.request(samples_per_pair=600, caller=OPERATOR)
    with pytest.raises(QuotaExceeded, match="samples_per_day exceeded: 28,800 used of 48,000, this asks 19,248"):
        use_cases.request(samples_per_pair=401, caller=OPERATOR)
    use_cases.request(samples_per_pair=400, caller=OPERATOR)  # exactly the quota
    use_cases.clock.advance(timedelta(hours=24, seconds=1))
    use_cases.request(samples_per_pair=1000, caller=OPERATOR)


def test_the_schedule_and_the_command_line_count_against_no_quota():
    use_cases, _, _ = simulations(quotas=Quotas(queued_runs=0, samples_per_day=0))
    use_cases.request(samples_per_pair=10, caller=COMMAND_LINE)
    use_cases.tick("2026-11-27T12:00Z")


def test_benchmark_requests_and_tokens_per_day_are_counted_with_warm_up():
    use_cases = benchmarks(Quotas(queued_runs=100, benchmark_requests_per_day=100, benchmark_tokens_per_day=10_000))
    use_cases.request("paid", use_cases.plan(48, warmup=2, max_tokens=99), OPERATOR)  # 50 requests, 5,000 tokens
    with pytest.raises(QuotaExceeded) as refused:
        use_cases.request("paid", use_cases.plan(49, warmup=2, max_tokens=10), OPERATOR)
    assert refused.value.quota == "benchmark_requests_per_day" and refused.value.asked == 51
    with pytest.raises(QuotaExceeded) as refused:
        use_cases.request("paid", use_cases.plan(40, warmup=0, max_tokens=200), OPERATOR)
    assert refused.value.quota == "benchmark_tokens_per_day" and refused.value.used == 5_000
    with pytest.raises(Forbidden):
        use_cases.request("paid", use_cases.plan(1), Caller("key:2", Role.READER))


def test_a_plan_whose_arrivals_outlast_the_duration_cap_is_refused():
    use_cases = benchmarks(Quotas(), max_duration_s=600)
    with pytest.raises(InvalidParameter, match="take about 1,000,000 s; a run may last at most 600 s"):
        use_cases.plan(1000, rate=0.001)
    assert use_cases.plan(600, rate=1.0).rate == 1.0


def test_the_default_quotas_are_the_documented_ones():
    assert Quotas() == Quotas(queued_runs=3, samples_per_day=10_000_000, benchmark_requests_per_day=2_000,
                              benchmark_tokens_per_day=1_000_000)  # fmt: skip
    assert (Quotas().queued_runs, Quotas().samples_per_day) == (3, 10_000_000)
    assert (Quotas().benchmark_requests_per_day, Quotas().benchmark_tokens_per_day) == (2_000, 1_000_000)


def test_past_the_queued_runs_quota_the_refusal_says_one_more_was_asked():
    use_cases, _, _ = simulations(quotas=Quotas(queued_runs=1))
    use_cases.request(samples_per_pair=10, caller=OPERATOR)
    with pytest.raises(QuotaExceeded, match=r"^quota queued_runs exceeded: 1 used of 1, this asks 1 more$"):
        use_cases.request(samples_per_pair=10, caller=OPERATOR)


def test_a_plan_that_takes_exactly_the_rest_of_the_day_is_accepted_even_after_simulations():
    use_cases = benchmarks(Quotas(queued_runs=100, benchmark_requests_per_day=100, benchmark_tokens_per_day=10_000))
    simulated, _, _ = simulations(quotas=Quotas(queued_runs=100), uow=use_cases.uow)
    simulated.request(samples_per_pair=10, caller=OPERATOR)  # costs samples, no requests or tokens
    use_cases.request("paid", use_cases.plan(60, warmup=0, max_tokens=99), OPERATOR)
    use_cases.request("paid", use_cases.plan(38, warmup=2, max_tokens=99), OPERATOR)  # 100 requests, 10,000 tokens
    with pytest.raises(QuotaExceeded) as refused:
        use_cases.request("paid", use_cases.plan(1, warmup=0, max_tokens=1), OPERATOR)
    assert (refused.value.quota, refused.value.used, refused.value.asked) == ("benchmark_requests_per_day", 100, 1)


def test_the_tokens_quota_counts_every_prompts_tokens_beside_the_output_asked():
    use_cases = benchmarks(Quotas(queued_runs=100, benchmark_tokens_per_day=10_000))
    drawn = Workload(input_tokens=90, seed=1)  # 90 tokens a prompt, warm-ups' too
    run = use_cases.request("paid", use_cases.plan(40, warmup=2, max_tokens=10, workload=drawn), OPERATOR)
    assert run.details["plan"]["prompt_tokens"] == 42 * 90  # with 42 x 10 output: 4,200 tokens
    use_cases.request("paid", use_cases.plan(1, warmup=0, max_tokens=1, prompts=("one two three",)), OPERATOR)
    with pytest.raises(QuotaExceeded) as refused:
        use_cases.request("paid", use_cases.plan(59, warmup=0, max_tokens=9, workload=drawn), OPERATOR)
    assert (refused.value.used, refused.value.asked) == (4_204, 59 * 99)  # 4,200 + 1 x (1 + 3)


def test_a_measured_run_stored_before_tokens_were_counted_counts_its_plans_requests_and_no_tokens():
    legacy = Run(seed=0, created_at=datetime(2026, 11, 1, tzinfo=UTC), source=RunSource.MEASURED)
    legacy.details = {"plan": {"requests": 5}}
    assert work_of(legacy) == Work(requests=5, tokens=0)
