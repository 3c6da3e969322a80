"""Runs split across workers: the shares, the merge onto one timeline, and the run they make (fakes)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

import pytest

from src.application.domain.model import RunStatus
from src.application.ports.llm_client import ChatRequest, Chunk, RequestOutcome
from src.application.services.measures import ClientLimits
from src.application.services.shards import Shard, ShardResult, merge, shifted
from src.application.services.workloads import Workload
from tests.unit.test_benchmark_use_cases import BrokenClient, ScriptedClient, benchmarks, ok, stored


@pytest.mark.parametrize(("total", "count"), [(10, 2), (7, 3), (3, 3), (1000, 4)])
def test_shards_share_a_total_as_evenly_as_whole_numbers_allow_and_pick_every_kth_item(total, count):
    shards = [Shard(index, count) for index in range(count)]
    shares = [shard.share(total) for shard in shards]
    assert sum(shares) == total and max(shares) - min(shares) <= 1
    picked = [item for shard in shards for item in shard.picks(range(total))]
    assert sorted(picked) == list(range(total)) and shards[-1].picks(range(total))[0] == count - 1


def test_a_shards_part_of_a_plan_is_its_share_of_requests_streams_warmups_and_rate():
    use_cases, _, _ = benchmarks(ScriptedClient(ok(0.2, 1.2, 11)))
    plan = use_cases.plan(101, concurrency=10, rate=9.0, warmup=3)
    parts = [plan.part(Shard(index, 3)) for index in range(3)]
    assert [p.requests for p in parts] == [34, 34, 33] and [p.concurrency for p in parts] == [4, 3, 3]
    assert [p.warmup for p in parts] == [1, 1, 1] and {p.rate for p in parts} == {3.0}


def test_a_run_with_more_streams_than_a_worker_holds_is_handed_over_as_shards_starting_together():
    use_cases, _, _ = benchmarks(ScriptedClient(ok(0.2, 1.2, 11)), streams_per_worker=4, shard_start_delay_s=5.0)
    assert use_cases.shards(use_cases.plan(40, concurrency=4)) == 1
    assert use_cases.shards(use_cases.plan(40, concurrency=9)) == 3
    assert use_cases.shards(use_cases.plan(2, concurrency=9)) == 2  # each shard sends one request at least
    run = use_cases.request("fake", use_cases.plan(40, concurrency=9))
    assert use_cases.task_queue.shards == [(run.id, 3, (use_cases.clock.now() + timedelta(seconds=5)).timestamp())]


def result(index: int, origin: float, origin_wall: float, started: tuple[float, ...], **given) -> ShardResult:
    chunk = (Chunk(0.2, "hi"),)
    one = RequestOutcome(0.0, 1.0, 0.2, 5, 25, tokens_from_usage=True, chunks=chunk)
    outcomes = [shifted(one, origin + s) for s in started]
    fields = {"worker": f"w{index}", "outcomes": outcomes, "origin": origin, "origin_wall": origin_wall,
              "wall": 2.0, "lags": [0.001] * 10, "lateness": [], "cpu_s": 0.1} | given  # fmt: skip
    return ShardResult(index, **fields)


def test_the_merge_puts_every_shards_requests_on_one_timeline_by_the_wall_clock_at_their_starts():
    # Two hosts: their monotonic clocks read 100 and 7 when the wall clock read 1000.0 and 1000.5.
    merged = merge([result(1, 7.0, 1000.5, (0.0, 1.0)), result(0, 100.0, 1000.0, (0.0, 0.5))])
    assert [o.started for o in merged.outcomes] == [0.0, 0.5, 0.5, 1.5]
    assert [o.ttft_s for o in merged.outcomes] == pytest.approx([0.2] * 4)  # durations unchanged
    assert merged.outcomes[2].chunks[0].at == pytest.approx(0.7)
    assert merged.starts == [0.0, 0.5] and merged.wall == 2.5


def test_a_shards_result_survives_the_task_queue_as_json():
    sent = result(0, 100.0, 1000.0, (0.0, 0.5))
    assert ShardResult.of_message(json.loads(json.dumps(sent.as_message()))) == sent


class PacedClient(ScriptedClient):
    async def stream(self, request: ChatRequest) -> RequestOutcome:
        await asyncio.sleep(0.02)  # waiting on the endpoint, as a real stream does
        return await super().stream(request)


def test_shards_measured_by_two_workers_make_one_run_whose_counts_are_the_sum_of_theirs():
    client = PacedClient(ok(0.2, 1.2, 11), ok(0.4, 2.4, 21))
    use_cases, uow, _ = benchmarks(client, streams_per_worker=2)
    workload = Workload(input_tokens=8, distribution="uniform", spread=4, seed=3)
    run = use_cases.request("fake", use_cases.plan(10, concurrency=4, warmup=0, workload=workload))
    _, count, _ = use_cases.task_queue.shards[0]
    messages = [use_cases.measure_shard(run.id, Shard(index, count, None), f"w{index}").as_message()
                for index in range(count)]  # fmt: skip
    merged = use_cases.merge_shards(run.id, [ShardResult.of_message(m) for m in reversed(messages)])

    assert merged.status is RunStatus.COMPLETED and merged.invalid is None
    shards = merged.details["shards"]
    assert [s["requests_sent"] for s in shards] == [5, 5] and [s["worker"] for s in shards] == ["w0", "w1"]
    assert merged.details["requests_sent"] == merged.details["completed"] == 10
    assert stored(uow, merged, "TTFT").size == 10 and len(use_cases.requests(run.id)) == 10
    # The shards sent the prompts one worker would have, each once.
    one = benchmarks(ScriptedClient(ok(0.2, 1.2, 11)))[0]
    one.run_now("fake", one.plan(10, concurrency=4, warmup=0, workload=workload))
    assert sorted(r.prompt for r in client.requests) == sorted(r.prompt for r in one.client.requests)


def test_a_sharded_runs_arrivals_held_back_are_the_sum_of_its_shards_and_only_a_rates_are_counted():
    use_cases, _, _ = benchmarks(ScriptedClient(ok(0.2, 1.2, 11)), streams_per_worker=1)
    at_a_rate = use_cases.request("fake", use_cases.plan(4, concurrency=2, rate=10.0, warmup=0))
    shards = [result(0, 10.0, 1000.0, (0.0, 0.5), held=1), result(1, 10.0, 1000.0, (0.0, 0.5), held=2)]
    assert use_cases.merge_shards(at_a_rate.id, shards).details["arrivals_held_back"] == 3
    back_to_back = use_cases.request("fake", use_cases.plan(4, concurrency=2, warmup=0))
    assert "arrivals_held_back" not in use_cases.merge_shards(back_to_back.id, shards).details


def test_shards_that_started_apart_or_failed_are_said_so_in_the_run():
    use_cases, _, _ = benchmarks(ScriptedClient(ok(0.2, 1.2, 11)), streams_per_worker=1)
    run = use_cases.request("fake", use_cases.plan(4, concurrency=2, warmup=0))
    late = use_cases.merge_shards(run.id, [result(0, 10.0, 1000.0, (0.0, 0.5)), result(1, 10.0, 1003.0, (0.0, 0.5))])
    assert late.status is RunStatus.COMPLETED
    assert late.invalid == "client-bound: its shards started 3.0 s apart (more than 1 s)"

    run = use_cases.request("fake", use_cases.plan(4, concurrency=2, warmup=0))
    broken = result(1, 0.0, 0.0, (), error="ConnectionError: gone")
    failed = use_cases.merge_shards(run.id, [result(0, 10.0, 1000.0, (0.0,)), broken])
    assert failed.status is RunStatus.FAILED and failed.error == "shard 1 (w1): ConnectionError: gone"


def test_a_merged_run_names_each_shard_in_its_details_and_in_what_went_wrong():
    limits = ClientLimits(loop_lag_ms=20.0)
    use_cases, _, _ = benchmarks(ScriptedClient(ok(0.2, 1.2, 11)), streams_per_worker=1, client_limits=limits)
    run = use_cases.request("fake", use_cases.plan(4, concurrency=2, warmup=0))
    lagging = result(1, 10.0, 1001.0, (0.0, 0.5), lags=[0.1] * 10)  # started 1 s after shard 0: together still
    merged = use_cases.merge_shards(run.id, [result(0, 10.0, 1000.0, (0.0, 0.5)), lagging])
    assert merged.status is RunStatus.COMPLETED
    assert merged.invalid.startswith("client-bound: shard 1 (w1): the client's event loop lagged")
    assert "apart" not in merged.invalid
    shards = merged.details["shards"]
    assert [{k: v for k, v in s.items() if k != "self_check"} for s in shards] == [
        {"index": 0, "worker": "w0", "requests_sent": 2, "started_s": 0.0},
        {"index": 1, "worker": "w1", "requests_sent": 2, "started_s": 1.0},
    ]
    assert [bool(s["self_check"]["reasons"]) for s in shards] == [False, True]
    # The requests on the merged timeline: the first shard's first request was sent at its start.
    assert [r["sent_s"] for r in use_cases.requests(run.id)] == [0.0, 0.5, 1.0, 1.5]

    run = use_cases.request("fake", use_cases.plan(4, concurrency=2, warmup=0))
    late_and_lagging = result(1, 10.0, 1003.0, (0.0, 0.5), lags=[0.1] * 10)
    both = use_cases.merge_shards(run.id, [result(0, 10.0, 1000.0, (0.0, 0.5)), late_and_lagging])
    reasons = both.invalid.removeprefix("client-bound: ").split("; ")
    assert len(reasons) == 2 and reasons[0].startswith("shard 1 (w1): the client's event loop lagged")
    assert reasons[1] == "its shards started 3.0 s apart (more than 1 s)"

    run = use_cases.request("fake", use_cases.plan(4, concurrency=2, warmup=0))
    gone = [result(i, 0.0, 0.0, (), error=f"ConnectionError: {i}") for i in (1, 0)]
    failed = use_cases.merge_shards(run.id, gone)
    assert failed.error == "shard 0 (w0): ConnectionError: 0; shard 1 (w1): ConnectionError: 1"


def test_a_shard_that_cannot_measure_says_why_in_its_result():
    use_cases, _, _ = benchmarks(BrokenClient(), streams_per_worker=1)
    run = use_cases.request("fake", use_cases.plan(4, concurrency=2, warmup=0))
    broken = use_cases.measure_shard(run.id, Shard(0, 2), "w0")
    assert (broken.index, broken.worker, broken.outcomes) == (0, "w0", [])
    assert broken.error == ("RuntimeError: " + "x" * 400)[:300]
    use_cases.merge_shards(run.id, [broken, use_cases.measure_shard(run.id, Shard(1, 2), "w1")])
    assert use_cases.measure_shard(run.id, Shard(1, 2), "w1").error == f"run {run.id} had already finished"
    use_cases.change_endpoint("fake", {"api_key_env": "FAKE_API_KEY"})
    keyless = use_cases.request("fake", use_cases.plan(4, concurrency=2, warmup=0))
    unset = "the environment variable FAKE_API_KEY (the endpoint's key) is not set"
    assert use_cases.measure_shard(keyless.id, Shard(0, 2), "w0").error == unset


def test_a_shard_waits_for_the_moment_the_runs_shards_start_together():
    use_cases, _, _ = benchmarks(ScriptedClient(ok(0.2, 1.2, 11)), streams_per_worker=1)
    run = use_cases.request("fake", use_cases.plan(4, concurrency=2, warmup=1))
    start_at = time.time() + 0.3
    sent = use_cases.measure_shard(run.id, Shard(0, 2, start_at), "w0")
    # The event loop's timers may fire up to its clock's resolution early.
    assert sent.error is None and start_at - 0.01 <= sent.origin_wall < start_at + 0.5
