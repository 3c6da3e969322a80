"""Sweeps over HTTP against a local streaming server that serves two requests at once: the sweep
finds where its throughput stops rising, and stops there by itself."""

from __future__ import annotations

import pytest

from src.application.use_cases.benchmarks import BenchmarkUseCases
from tests.support.fake_openai import Behaviour, FakeOpenAI
from tests.support.polling import wait_until_finished

# 0.02 s to the first token and 9 more every 2 ms: 38 ms a request when it is served at once.
SATURATES_AT_TWO = Behaviour(first_token_delay=0.02, token_delay=0.002, tokens=10, capacity=2)


@pytest.fixture
def saturating(clean_app):
    with FakeOpenAI(SATURATES_AT_TWO) as server:
        clean_app.extensions["injector"].get(BenchmarkUseCases).add_endpoint(
            "saturating", "GPT-4o", server.base_url, "gpt-4o", None
        )
        yield server


def test_a_sweep_stops_where_throughput_stops_rising_and_reports_its_knee_and_slo_load(saturating, client, api_headers):
    # 20 requests a stage: at 95% one of them may be late, so one slow moment of a busy host fails no stage.
    body = {"endpoint": "saturating", "requests": 20, "warmup": 0, "load": "concurrency", "loads": [1, 2, 4, 8, 16],
            "min_gain": 0.2, "slo": {"e2e_ms": 60}}  # fmt: skip
    response = client.post("/sweeps", json=body, headers=api_headers)
    assert response.status_code == 202, response.json
    sweep_id = response.json["sweep"]["id"]
    assert response.headers["Location"] == f"/sweeps/{sweep_id}"

    sweep = wait_until_finished(client, api_headers, f"/sweeps/{sweep_id}", timeout=60)
    assert sweep["status"] == "completed" and sweep["endpoint"] == "saturating"
    stages = sweep["stages"]
    assert [stage["load"] for stage in stages] == [1, 2, 4]  # two at a time is all it serves
    assert sweep["stop_reason"].startswith("saturated: throughput at concurrency 4")
    assert stages[1]["output_tokens_per_second"] > 1.6 * stages[0]["output_tokens_per_second"]
    # The client held each load (waiting in the server's queue is in flight too), but as its last requests drained.
    assert [stage["mean_in_flight"] for stage in stages] == pytest.approx([1, 2, 4], rel=0.15)
    assert sweep["knee"]["load"] == 2
    # At 4 in flight half the requests wait for a slot: 76 ms, past the 60 ms asked of 95% of them.
    assert [stage["slo_met"] for stage in stages] == [True, True, False]
    assert sweep["largest_load_meeting_slo"] == 2
    for stage in stages:
        run = client.get(f"/runs/{stage['run_id']}", headers=api_headers).json["run"]
        assert run["sweep_id"] == sweep_id and run["details"]["plan"]["concurrency"] == stage["load"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"loads": [1, 2], "up_to": 8}, "give loads (a rising list) or up_to (doubling from start), one of them"),
        ({}, "give loads (a rising list) or up_to (doubling from start), one of them"),
        ({"load": "pressure", "up_to": 8}, "unknown load 'pressure'"),
        ({"up_to": 8, "min_gain": 2}, "min_gain must be a number between 0 and 1, got 2"),
        ({"loads": [4, 2]}, "a sweep's loads must rise, each above the one before"),
    ],
)
def test_a_sweep_it_cannot_run_is_refused_with_a_400_naming_the_problem(saturating, client, api_headers, body, message):
    response = client.post("/sweeps", json={"endpoint": "saturating", "requests": 50} | body, headers=api_headers)
    assert response.status_code == 400 and message in response.json["error"]["message"]


def test_an_unknown_sweep_is_a_404(client, api_headers):
    response = client.get("/sweeps/999999", headers=api_headers)
    assert response.status_code == 404 and "sweep 999999 does not exist" in response.json["error"]["message"]


def test_a_sweep_runs_from_the_command_line_printing_a_line_a_stage(saturating, clean_app):
    runner = clean_app.test_cli_runner()
    result = runner.invoke(args=["benchmark", "--endpoint", "saturating", "--requests", "16", "--warmup", "0",
                                 "--sweep-up-to", "8", "--min-gain", "0.2", "--slo-e2e-ms", "60"])  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].endswith(": 16 requests a stage at concurrency 1, 2, 4, 8")
    assert [line.split()[0] for line in lines[2:5]] == ["1", "2", "4"] and lines[4].endswith("no")
    assert lines[1].split()[3:5] == ["in", "flight"]  # the concurrency each stage held, after its throughput
    assert [float(line.split()[3]) for line in lines[2:5]] == pytest.approx([1, 2, 4], rel=0.15)
    assert lines[5].startswith("completed: saturated: throughput at concurrency 4")
    assert lines[6:] == ["knee: concurrency 2", "largest concurrency meeting the SLO: 2"]
    bad = runner.invoke(args=["benchmark", "--endpoint", "saturating", "--sweep", "1,two"])
    assert bad.exit_code == 2 and "loads are numbers separated by commas, got '1,two'" in bad.output


def test_a_sweeps_stages_leave_its_endpoints_watched_status_and_latest_ranking_to_its_other_runs(
    saturating, clean_app, client, api_headers
):
    """A sweep drives its endpoint to saturation on purpose: its last stage's plan must not become
    the endpoint's watched one (its status, Prometheus, alerts) nor its latest ranked run."""
    benchmarks = clean_app.extensions["injector"].get(BenchmarkUseCases)
    watched = [benchmarks.run_now("saturating", benchmarks.plan(8, warmup=0, concurrency=1)) for _ in range(2)]
    body = {"endpoint": "saturating", "requests": 8, "warmup": 0, "loads": [2, 4]}
    sweep_id = client.post("/sweeps", json=body, headers=api_headers).json["sweep"]["id"]
    stages = wait_until_finished(client, api_headers, f"/sweeps/{sweep_id}", timeout=60)["stages"]
    assert [stage["status"] for stage in stages] == ["completed", "completed"]

    status = client.get("/monitoring/endpoints", headers=api_headers).json
    assert [(e["endpoint"], e["runs"], e["plan"]["description"]) for e in status["endpoints"]] == [
        ("saturating", 2, "8 requests, concurrency 1, up to 256 tokens out")
    ]
    assert status["failing"] == []
    trend = client.get("/visualize/endpoints/saturating/ttft.csv").text.splitlines()[1:]
    assert [int(row.split(",")[0]) for row in trend] == [run.id for run in watched]  # the sweep has its curve
    latest = client.get("/metrics/?metric_name=TTFT&source=measured&group_by=endpoint", headers=api_headers).json
    assert latest["run"]["id"] == watched[-1].id
    stage = client.get(f"/metrics/?metric_name=TTFT&run_id={stages[-1]['run_id']}", headers=api_headers)
    assert stage.status_code == 200 and stage.json["run"]["sweep_id"] == sweep_id  # ranked by id, as any run


def test_a_stage_whose_last_requests_drained_does_not_pass_for_saturation(clean_app):
    """A server with room for every request. 24 requests at concurrency 16 are a round and a half:
    the stage holds about 12 in flight, hardly more than the stage at 12, so its throughput rises
    little; the sweep must go on to 24 (one round), where the throughput doubles."""
    benchmarks = clean_app.extensions["injector"].get(BenchmarkUseCases)
    with FakeOpenAI(Behaviour(first_token_delay=0.1, token_delay=0.005, tokens=40)) as server:
        benchmarks.add_endpoint("roomy", "GPT-4o", server.base_url, "gpt-4o", None)
        runner = clean_app.test_cli_runner()
        result = runner.invoke(args=["benchmark", "--endpoint", "roomy", "--requests", "24", "--warmup", "0",
                                     "--sweep", "12,16,24"])  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[5] == "completed: every load was measured", result.output
    held = {line.split()[0]: float(line.split()[3]) for line in lines[2:5]}
    assert held["16"] == pytest.approx(12, rel=0.1) and held["24"] == pytest.approx(24, rel=0.1)
