"""Measured runs against a local OpenAI-compatible streaming server with known delays and errors."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from src.adapters.web.models import RequestRecord
from src.application.domain.model import RunSource, RunStatus
from src.application.ports.unit_of_work import AbstractUnitOfWork
from src.application.services.measures import DEFINITIONS_VERSION
from src.application.services.workloads import Workload
from src.application.use_cases.benchmarks import BenchmarkUseCases
from src.application.use_cases.simulation import SimulationUseCases
from tests.support.fake_openai import TEMPLATE_TOKENS, Behaviour, FakeOpenAI

FIRST_TOKEN = 0.2  # seconds
TOKEN_GAP = 0.01  # seconds: 100 tokens/s


@pytest.fixture
def benchmarks(clean_app) -> BenchmarkUseCases:
    return clean_app.extensions["injector"].get(BenchmarkUseCases)


def samples(clean_app, run, metric: str) -> np.ndarray:
    uow = clean_app.extensions["injector"].get(AbstractUnitOfWork)
    with uow:
        metric_id = next(m.id for m in uow.catalogue.metrics() if m.name == metric)
        endpoint = uow.endpoints.get(run.endpoint_id)
        return uow.samples.values(run.id, endpoint.llm_id, metric_id)


@pytest.mark.parametrize("concurrency, requests", [(1, 8), (16, 32)])
def test_measured_ttft_and_speed_are_within_5_percent_of_the_servers(benchmarks, clean_app, concurrency, requests):
    with FakeOpenAI(Behaviour(first_token_delay=FIRST_TOKEN, token_delay=TOKEN_GAP, tokens=40)) as server:
        benchmarks.add_endpoint("fake", "GPT-4o", server.base_url, "gpt-4o", None)
        run = benchmarks.run_now("fake", benchmarks.plan(requests, concurrency=concurrency, warmup=2))
    assert run.status is RunStatus.COMPLETED and run.source is RunSource.MEASURED
    ttft, tps, e2e = (samples(clean_app, run, m) for m in ("TTFT", "TPS", "e2e_latency"))
    assert ttft.size == tps.size == e2e.size == requests
    assert np.median(ttft) == pytest.approx(FIRST_TOKEN, rel=0.05)
    assert np.median(tps) == pytest.approx(1 / TOKEN_GAP, rel=0.05)
    assert np.median(e2e) == pytest.approx(FIRST_TOKEN + 39 * TOKEN_GAP, rel=0.05)
    details = run.details
    assert details["completed"] == requests and details["errors"] == {}
    assert details["inter_token_latency_ms"]["p50"] == pytest.approx(TOKEN_GAP * 1000, rel=0.05)
    assert details["inter_chunk_latency_ms"]["p50"] == pytest.approx(TOKEN_GAP * 1000, rel=0.05)
    assert details["output_tokens_per_second"] == pytest.approx(requests * 40 / details["wall_seconds"])
    assert details["definitions"] == DEFINITIONS_VERSION
    assert run.invalid is None and details["self_check"]["reasons"] == []  # the client kept up
    assert details["self_check"]["client_cpu"] < 0.9 and details["self_check"]["loop_lag_ms"]["p50"] < 20
    assert details["tokens_counted_by"] == "usage" and details["input_tokens"]["mean"] == 25
    assert details["plan"]["load"] == {"shape": "fixed_concurrency", "concurrency": concurrency}
    assert 0 <= details["client_overhead_ms"]["mean"] < 5
    rps = samples(clean_app, run, "RPS")
    assert rps.size == 1 and rps[0] == pytest.approx(requests / details["wall_seconds"])
    if concurrency == 16:  # 32 requests of ~0.6 s, 16 at a time, take two rounds
        assert details["wall_seconds"] == pytest.approx(2 * (FIRST_TOKEN + 39 * TOKEN_GAP), rel=0.25)


def test_the_concurrency_a_run_held_is_reported_and_falls_as_its_last_requests_drain(benchmarks):
    """At concurrency 4, 6 requests of one duration d take 2d, with 6d of requests in flight: 3 on
    average, and the run's throughput is that of 3 streams; 40 requests, ten rounds of 4, hold 4."""
    with FakeOpenAI(Behaviour(first_token_delay=0.05, token_delay=0.005, tokens=20)) as server:
        benchmarks.add_endpoint("fake", "GPT-4o", server.base_url, "gpt-4o", None)
        held = {n: benchmarks.run_now("fake", benchmarks.plan(n, concurrency=4, warmup=0)).details for n in (6, 40)}
    assert held[6]["mean_in_flight"] == pytest.approx(3.0, rel=0.1)
    assert held[40]["mean_in_flight"] == pytest.approx(4.0, rel=0.06)
    speed = {n: details["output_tokens_per_second"] / details["mean_in_flight"] for n, details in held.items()}
    assert speed[6] == pytest.approx(speed[40], rel=0.1)  # the throughput of the streams it held


def test_errors_are_counted_exactly_and_never_become_samples(benchmarks, clean_app):
    behaviour = Behaviour(first_token_delay=0.01, token_delay=0.001, tokens=10, fail_every=4, throttle_every=7)
    with FakeOpenAI(behaviour) as server:
        benchmarks.add_endpoint("flaky", "Claude 3 Haiku", server.base_url, "haiku", None)
        run = benchmarks.run_now("flaky", benchmarks.plan(28, concurrency=4, warmup=0))
    # 500 for requests 4, 8, ..., 28 (7); 429 for 7, 14, 21 (28 is already a 500).
    assert run.details["errors"] == {"http_5xx": 7, "http_429": 3}
    assert run.details["completed"] == 18
    assert samples(clean_app, run, "TTFT").size == 18


def test_without_a_usage_report_tokens_are_counted_by_the_tokenizer_not_by_chunks(benchmarks):
    """12 one-token words streamed a character a chunk: 72 chunks, 12 tokens."""
    behaviour = Behaviour(first_token_delay=0.01, token_delay=0.002, tokens=12, send_usage=False,
                          one_character_chunks=True)  # fmt: skip
    with FakeOpenAI(behaviour) as server:
        benchmarks.add_endpoint("plain", "Llama 3.1 8B", server.base_url, "llama", None)
        run = benchmarks.run_now("plain", benchmarks.plan(3, warmup=0))
    details = run.details
    assert details["tokens_counted_by"] == "tokenizer" and details["tokenizer"] == "cl100k_base"
    assert details["output_tokens"]["mean"] == 12 and details["input_tokens"] is None
    assert details["usage_minus_tokenizer_tokens"] is None  # no usage report to compare with


def test_the_usage_report_and_the_tokenizer_are_both_kept_and_their_difference_reported(benchmarks):
    with FakeOpenAI(Behaviour(first_token_delay=0.01, token_delay=0.002, tokens=12)) as server:
        benchmarks.add_endpoint("usage", "GPT-4o", server.base_url, "gpt-4o", None)
        run = benchmarks.run_now("usage", benchmarks.plan(3, warmup=0))
    assert run.details["tokens_counted_by"] == "usage"
    assert run.details["usage_minus_tokenizer_tokens"] == {"mean": 0.0, "p50": 0.0, "p99": 0.0}


def test_a_workloads_prompts_are_as_long_as_drawn_in_the_tokenizers_tokens(benchmarks):
    """The server counts the prompt's words and adds a chat template's tokens: each word drawn is one
    cl100k_base token, so the usage report exceeds the drawn length by the template alone."""
    behaviour = Behaviour(first_token_delay=0.01, token_delay=0.001, tokens=4, count_prompt=True)
    with FakeOpenAI(behaviour) as server:
        benchmarks.add_endpoint("drawn", "GPT-4o", server.base_url, "gpt-4o", None)
        workload = Workload(input_tokens=300, distribution="normal", spread=40, shared_prefix_tokens=100)
        run = benchmarks.run_now("drawn", benchmarks.plan(8, concurrency=2, warmup=1, workload=workload))
    details = run.details
    assert details["usage_minus_prompt_tokens"] == {"mean": TEMPLATE_TOKENS, "p50": TEMPLATE_TOKENS,
                                                    "p99": TEMPLATE_TOKENS}  # fmt: skip
    lengths = sorted(workload.lengths(8))
    assert details["input_tokens"]["p50"] == pytest.approx(np.median(lengths) + TEMPLATE_TOKENS)


def test_poisson_arrivals_are_a_load_shape(benchmarks):
    with FakeOpenAI(Behaviour(first_token_delay=0.01, token_delay=0.001, tokens=5)) as server:
        benchmarks.add_endpoint("poisson", "GPT-4o mini", server.base_url, "mini", None)
        run = benchmarks.run_now("poisson", benchmarks.plan(20, concurrency=8, rate=40.0, warmup=0))
    assert run.status is RunStatus.COMPLETED
    assert run.details["plan"]["load"] == {"shape": "poisson", "rate_per_second": 40.0, "max_concurrency": 8}
    assert 0.2 < run.details["wall_seconds"] < 2.0  # 20 arrivals at 40/s take about half a second
    assert run.details["arrivals_held_back"] == 0  # 8 in flight at most: room for every arrival


def test_arrivals_held_back_by_the_plans_most_in_flight_are_counted_and_leave_the_client_trusted(benchmarks):
    """40 arrivals a second, one in flight at most, 0.3 s a request: all but the first wait for the
    slot. The plan holds them back, not the client: the run is not client-bound, and says so. (Each
    hand-over of the slot leaves it empty for the client's turn: a few ms on a busy host, which at
    0.1 s a request held 0.93 in flight.)"""
    with FakeOpenAI(Behaviour(first_token_delay=0.05, token_delay=0.025, tokens=10)) as server:
        benchmarks.add_endpoint("capped", "GPT-4o mini", server.base_url, "mini", None)
        run = benchmarks.run_now("capped", benchmarks.plan(10, concurrency=1, rate=40.0, warmup=0))
    assert run.status is RunStatus.COMPLETED and run.invalid is None, run.invalid
    assert run.details["arrivals_held_back"] == 9 and run.details["mean_in_flight"] == pytest.approx(1, rel=0.05)
    assert run.details["self_check"]["arrival_lateness_ms"]["p95"] < 20


def test_an_unreachable_endpoint_fails_the_run_cleanly(benchmarks, clean_app):
    benchmarks.add_endpoint("gone", "GPT-4o", "http://127.0.0.1:1/v1", "gpt-4o", None)
    run = benchmarks.run_now("gone", benchmarks.plan(5, concurrency=2, warmup=1))
    assert run.status is RunStatus.FAILED
    assert run.error.startswith(
        "no request succeeded (connection: 5); the first said: Cannot connect to host 127.0.0.1:1"
    )
    assert run.details["errors"] == {"connection": 5}
    assert run.details["first_errors"]["connection"].startswith("Cannot connect to host 127.0.0.1:1")
    assert samples(clean_app, run, "TTFT").size == 0


def test_a_missing_key_fails_the_run_with_the_variable_named(benchmarks):
    benchmarks.add_endpoint("keyed", "GPT-4o", "http://127.0.0.1:1/v1", "gpt-4o", "JOUNCE_TEST_NO_SUCH_API_KEY")
    run = benchmarks.run_now("keyed", benchmarks.plan(1))
    assert run.status is RunStatus.FAILED and "JOUNCE_TEST_NO_SUCH_API_KEY" in run.error


def test_measured_runs_rank_beside_simulated_ones_by_source(benchmarks, client, api_headers):
    with (
        FakeOpenAI(Behaviour(first_token_delay=0.05, token_delay=0.002, tokens=10)) as fast,
        FakeOpenAI(Behaviour(first_token_delay=0.15, token_delay=0.004, tokens=10)) as slow,
    ):
        benchmarks.add_endpoint("fast", "Llama 3.1 8B", fast.base_url, "m", None)
        benchmarks.add_endpoint("slow", "Llama 3.1 405B", slow.base_url, "m", None)
        for name in ("fast", "slow"):
            benchmarks.run_now(name, benchmarks.plan(6, concurrency=2, warmup=0))
    body = client.get("/metrics/?metric_name=TTFT&source=measured&window=24h", headers=api_headers).json
    assert [r["llm"] for r in body["results"]] == ["Llama 3.1 8B", "Llama 3.1 405B"]
    assert body["window"]["runs"] == 2
    assert client.get("/metrics/?metric_name=TTFT", headers=api_headers).json["results"] == []  # no simulated run
    listed = client.get("/endpoints", headers=api_headers).json["endpoints"]
    assert {e["name"] for e in listed} == {"fast", "slow"}


def test_benchmarks_are_queued_over_http_and_measured_by_the_workers(benchmarks, client, api_headers):
    with FakeOpenAI(Behaviour(first_token_delay=0.01, token_delay=0.001, tokens=5)) as server:
        benchmarks.add_endpoint("queued", "GPT-4o", server.base_url, "gpt-4o", None)
        response = client.post("/benchmarks", json={"endpoint": "queued", "requests": 4, "concurrency": 2},
                               headers=api_headers)  # fmt: skip
        assert response.status_code == 202
        from tests.e2e.test_runs_api import wait_for_run

        run = wait_for_run(client, api_headers, response.json["run"]["id"])
    assert run["status"] == "completed" and run["source"] == "measured" and run["details"]["completed"] == 4
    unknown = client.post("/benchmarks", json={"endpoint": "nope"}, headers=api_headers)
    assert unknown.status_code == 404 and "queued" in unknown.json["error"]["message"]
    bad = client.post("/benchmarks", json={"endpoint": "queued", "concurrency": 0}, headers=api_headers)
    assert bad.status_code == 400 and "concurrency" in bad.json["error"]["message"]


def test_each_request_of_a_run_is_exported_as_a_json_line_with_its_timeline(benchmarks, clean_app, client, api_headers):
    behaviour = Behaviour(first_token_delay=0.05, token_delay=0.005, tokens=8, reasoning_tokens=2, fail_every=4)
    with FakeOpenAI(behaviour) as server:
        benchmarks.add_endpoint("traced", "GPT-4o", server.base_url, "gpt-4o", None)
        run = benchmarks.run_now("traced", benchmarks.plan(6, concurrency=2, warmup=1))
    simulated = clean_app.extensions["injector"].get(SimulationUseCases).queue(seed=1, samples_per_pair=2).id
    response = client.get(f"/runs/{run.id}/requests", headers=api_headers)
    assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
    assert response.headers["Content-Disposition"] == f'attachment; filename="run-{run.id}-requests.jsonl"'
    records = [RequestRecord.model_validate_json(line) for line in response.text.splitlines()]
    assert [r.request for r in records] == list(range(6)) and sorted(r.sent_s for r in records) == [
        r.sent_s for r in records
    ]
    failed = [r for r in records if r.error]
    assert [r.error for r in failed] == ["http_5xx"] and failed[0].chunks == []  # the 4th sent, warm-up counted
    for r in (r for r in records if not r.error):
        assert r.first_reasoning_s < r.first_token_s == pytest.approx(0.05 + 2 * 0.005, abs=0.03)
        assert len(r.chunks) == 10 and r.finish_reason == "stop" and r.output_tokens == r.tokenizer_tokens == 8
        assert [tokens for _, *tokens in r.chunks] == [[0, 1]] * 2 + [[1, 0]] * 8  # reasoning, then content
        assert r.headers_s <= r.first_chunk_s == r.first_reasoning_s and r.end_s >= r.chunks[-1][0]
    assert client.get(f"/runs/{simulated}/requests", headers=api_headers).status_code == 404
    missing = client.get("/runs/999999/requests", headers=api_headers)
    assert missing.status_code == 404 and missing.json["error"]["message"] == "run 999999 does not exist"


def test_a_measurement_that_breaks_midway_marks_its_run_failed_at_once(benchmarks, monkeypatch):
    def broken_store(*args, **kwargs):
        raise RuntimeError("disk full")

    with FakeOpenAI(Behaviour(first_token_delay=0.01, token_delay=0.001, tokens=5)) as server:
        benchmarks.add_endpoint("breaks", "GPT-4o", server.base_url, "gpt-4o", None)
        run = benchmarks.queue("breaks", benchmarks.plan(2, warmup=0))
        monkeypatch.setattr(benchmarks, "_store", broken_store)
        with pytest.raises(RuntimeError):
            benchmarks.execute(run.id)
    uow = benchmarks.uow
    with uow:
        stored = uow.runs.get(run.id)
    assert stored.status is RunStatus.FAILED and "disk full" in stored.error


def test_a_jsonl_prompt_file_is_sent_in_turn_from_the_command_line(benchmarks, clean_app, tmp_path):
    prompts = ["one two three", "four five", "six"]
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts) + "\n")
    runner = clean_app.test_cli_runner()
    with FakeOpenAI(Behaviour(first_token_delay=0.01, token_delay=0.001, tokens=3, count_prompt=True)) as server:
        benchmarks.add_endpoint("filed", "GPT-4o", server.base_url, "gpt-4o", None)
        result = runner.invoke(args=["benchmark", "--endpoint", "filed", "--requests", "4", "--warmup", "1",
                                     "--prompts-file", str(path)])  # fmt: skip
        assert result.exit_code == 0, result.output
        printed = result.output[result.output.index("{\n") : result.output.rindex("}") + 1]  # after the progress bar
        run = json.loads(printed)
    digest = hashlib.sha256(json.dumps(prompts, separators=(",", ":")).encode()).hexdigest()
    assert run["plan"]["prompts"] == {"sha256": digest, "count": 3} and run["plan"]["warmup"] == 1
    with benchmarks.uow as uow:
        assert uow.prompt_sets.get(digest) == tuple(prompts)  # kept apart, once
    records = benchmarks.requests(run["run"])
    assert [r["input_tokens"] - TEMPLATE_TOKENS for r in records] == [3, 2, 1, 3]  # in turn, the first again
    assert [r["prompt_tokens"] for r in records] == [3, 2, 1, 3]  # each prompt's length is kept
    path.write_text('{"prompt": "fine"}\nnot json\n')
    refused = runner.invoke(args=["benchmark", "--endpoint", "filed", "--prompts-file", str(path)])
    assert refused.exit_code == 2 and 'line 2 is not a JSON object with a "prompt"' in refused.output


def test_a_schedule_measures_its_endpoints_each_alone_or_together_with_every_field_of_its_plan(benchmarks, clean_app):
    from src.application.ports.task_queue import AbstractTaskQueue
    from src.application.use_cases.schedules import MeasurementSchedule, ScheduledMeasurements

    plan = {"requests": 6, "concurrency": 3, "warmup": 0, "max_tokens": 4, "slo": {"e2e_ms": 5000}}
    measurements = clean_app.extensions["injector"].get(ScheduledMeasurements)
    with FakeOpenAI(Behaviour(first_token_delay=0.01, token_delay=0.001, tokens=4)) as server:
        for name in ("one", "two"):
            benchmarks.add_endpoint(name, "GPT-4o", server.base_url, "gpt-4o", None)
        alone = measurements.fire(MeasurementSchedule("alone", ("one", "gone", "two"), "60", plan, together=False))
        together = measurements.fire(MeasurementSchedule("together", ("one", "two"), "60", plan))
        clean_app.extensions["injector"].get(AbstractTaskQueue).wait_idle()
    uow = clean_app.extensions["injector"].get(AbstractUnitOfWork)
    with uow:
        runs = {run_id: uow.runs.get(run_id) for run_id in alone + together}
    assert len(alone) == 2 and len(together) == 2  # the endpoint that is gone is left out, the others measured
    assert all(run.status is RunStatus.COMPLETED and run.requested_by == "schedule" for run in runs.values())
    assert all(run.details["requests_sent"] == 6 and run.details["slo"]["met"] for run in runs.values())
    assert [runs[i].campaign_id for i in alone] == [None, None]
    assert runs[together[0]].campaign_id == runs[together[1]].campaign_id is not None
