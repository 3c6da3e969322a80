"""The rankings API over HTTP against PostgreSQL and Redis."""

import csv
import io

import pytest

from src.application.use_cases.simulation import SimulationUseCases
from src.infrastructure.app import create_app


@pytest.fixture
def simulate(clean_app):
    simulations = clean_app.extensions["injector"].get(SimulationUseCases)
    return lambda seed=1, n=400: simulations.run_now(seed=seed, samples_per_pair=n)


def test_with_no_run_yet_rankings_are_empty_with_a_clear_detail(client, api_headers):
    body = client.get("/metrics/?metric_name=TTFT", headers=api_headers).json
    assert body["results"] == [] and "no completed run" in body["detail"]
    assert client.get("/metrics/all", headers=api_headers).json["results"] == []


@pytest.mark.parametrize("path", ["/metrics/?metric_name=TTFT&source=measured", "/metrics/all?source=measured"])
def test_with_no_measured_run_yet_the_detail_says_a_benchmark_fills_it(client, api_headers, simulate, path):
    simulate()  # simulated runs fill no measured ranking
    body = client.get(path, headers=api_headers).json
    assert body["results"] == [] and "no completed measured run" in body["detail"]
    assert "POST /benchmarks" in body["detail"] and "simulation" not in body["detail"]


@pytest.mark.parametrize("metric, ascending", [("TTFT", True), ("e2e_latency", True), ("TPS", False), ("RPS", False)])
def test_each_metric_is_ranked_best_first_for_its_direction(client, api_headers, simulate, metric, ascending):
    simulate()
    body = client.get(f"/metrics/?metric_name={metric}", headers=api_headers).json
    values = [r["mean_value"] for r in body["results"]]
    assert values == sorted(values, reverse=not ascending)
    assert [r["rank"] for r in body["results"]] == list(range(1, 13))
    assert body["metric"]["direction"] == ("lower" if ascending else "higher")


def test_a_ranking_result_carries_the_original_fields_and_its_statistics(client, api_headers, simulate):
    run = simulate(seed=5)
    body = client.get("/metrics/?metric_name=TTFT", headers=api_headers).json
    assert body["run"]["id"] == run.id and body["window"]["name"] == "latest"
    first = body["results"][0]
    for field in (
        "llm",
        "mean_value",
        "rank",
        "median",
        "p90",
        "p95",
        "p99",
        "std",
        "n",
        "ci95",
        "statistically_tied",
    ):
        assert field in first
    assert first["ci95"]["low"] <= first["value"] <= first["ci95"]["high"]
    assert first["n"] == 400


def test_ranking_by_a_percentile_uses_it(client, api_headers, simulate):
    simulate()
    results = client.get("/metrics/?metric_name=TTFT&statistic=p99", headers=api_headers).json["results"]
    assert [r["value"] for r in results] == [r["p99"] for r in results]
    assert [r["value"] for r in results] == sorted(r["value"] for r in results)


def test_tail_statistics_read_the_slow_tail_and_the_metric_says_which_raw_quantile_each_reads(
    client, api_headers, simulate
):
    simulate()
    body = client.get("/metrics/?metric_name=TPS&statistic=p99", headers=api_headers).json
    assert body["metric"]["quantiles"] == {"median": 0.5, "p90": 0.1, "p95": 0.05, "p99": 0.01}
    results = body["results"]
    assert all(r["p99"] < r["p90"] < r["median"] < r["mean_value"] * 1.5 for r in results)  # the slowest 1%
    assert [r["value"] for r in results] == sorted((r["value"] for r in results), reverse=True)
    ttft = client.get("/metrics/?metric_name=TTFT", headers=api_headers).json["metric"]["quantiles"]
    assert ttft == {"median": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}


def test_results_carry_rank_intervals_and_say_whether_their_interval_is_sufficient(client, api_headers, simulate):
    simulate(n=100)  # p99 needs 299 samples for a two-sided interval
    body = client.get("/metrics/?metric_name=TTFT&statistic=p99", headers=api_headers).json
    assert body["source"] == "simulated" and "catalogue's assumed latency profiles" in body["basis"]
    for result in body["results"]:
        assert result["ci95"]["sufficient"] is False and result["ci95"]["high"] is None
        assert result["ci95"]["low"] <= result["value"] and result["resolution"] == 0.0
        assert result["rank95"] == {"low": 1, "high": 12} and len(result["tied_with"]) == 11  # nothing is sure
    median = client.get("/metrics/?metric_name=TTFT&statistic=median", headers=api_headers).json["results"]
    assert all(r["ci95"]["sufficient"] and r["rank95"]["low"] <= r["rank"] <= r["rank95"]["high"] for r in median)
    assert median[0]["rank95"]["low"] == 1 and median[-1]["rank95"]["high"] == 12
    csv_text = client.get("/metrics/?metric_name=TTFT&statistic=p99&format=csv", headers=api_headers).data.decode()
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert rows[0]["ci95_high"] == "" and rows[0]["ci95_sufficient"] == "False" and rows[0]["rank95_high"] == "12"


def test_a_window_pools_the_runs_in_it_and_run_id_picks_one(client, api_headers, simulate):
    first, _ = simulate(seed=1), simulate(seed=2)
    pooled = client.get("/metrics/?metric_name=TPS&window=24h", headers=api_headers).json
    assert pooled["window"]["runs"] == 2 and pooled["results"][0]["n"] == 800
    one = client.get(f"/metrics/?metric_name=TPS&run_id={first.id}", headers=api_headers).json
    assert one["run"]["id"] == first.id and one["results"][0]["n"] == 400


def test_the_overall_ranking_scores_between_0_and_1_with_per_metric_standings(client, api_headers, simulate):
    simulate()
    results = client.get("/metrics/all", headers=api_headers).json["results"]
    assert len(results) == 12
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert set(results[0]["metrics"]) == {"TTFT", "TPS"}  # e2e latency and RPS follow from these two
    assert results[0]["mean_value"] == results[0]["score"]  # the original's field, kept
    assert all(r["score95"]["low"] <= r["score"] <= r["score95"]["high"] for r in results)
    assert all(r["rank95"]["low"] <= r["rank"] <= r["rank95"]["high"] for r in results)


def test_weights_change_the_overall_ranking_and_min_max_is_refused_naming_the_method(client, api_headers, simulate):
    simulate()
    ttft_only = client.get("/metrics/all?weights=TPS:0", headers=api_headers).json
    best_ttft = client.get("/metrics/?metric_name=TTFT", headers=api_headers).json["results"][0]["llm"]
    assert ttft_only["weights"] == {"TTFT": 1.0, "TPS": 0.0, "e2e_latency": 0.0, "RPS": 0.0}
    assert ttft_only["method"] == "winrate" and ttft_only["results"][0]["llm"] == best_ttft
    assert ttft_only["results"][0]["score"] == 1.0
    refused = client.get("/metrics/all?method=minmax", headers=api_headers)
    assert refused.status_code == 400 and refused.json["error"]["choices"] == ["winrate"]


@pytest.mark.parametrize(
    "path", ["/metrics/?metric_name=TTFT", "/metrics?metric_name=TTFT", "/metrics/all", "/metrics/all/"]
)
def test_the_original_paths_answer_without_a_redirect(client, api_headers, simulate, path):
    simulate()
    assert client.get(path, headers=api_headers).status_code == 200


def test_every_ranking_exports_csv_by_format_or_accept_header(client, api_headers, simulate):
    simulate()
    by_format = client.get("/metrics/?metric_name=TTFT&format=csv", headers=api_headers)
    by_accept = client.get("/metrics/?metric_name=TTFT", headers={**api_headers, "Accept": "text/csv"})
    assert by_format.mimetype == by_accept.mimetype == "text/csv"
    assert by_format.data == by_accept.data
    rows = list(csv.DictReader(io.StringIO(by_format.data.decode())))
    assert len(rows) == 12 and rows[0]["rank"] == "1"
    overall = list(
        csv.DictReader(io.StringIO(client.get("/metrics/all?format=csv", headers=api_headers).data.decode()))
    )
    assert {"score", "TTFT_value", "TPS_rank"} <= set(overall[0])
    history = client.get("/metrics/history?metric_name=TPS&format=csv", headers=api_headers)
    assert history.data.decode().startswith("run_id,finished_at,llm,value")


def test_history_has_a_point_per_run_for_every_llm(client, api_headers, simulate):
    runs = [simulate(seed=s, n=50) for s in range(3)]
    body = client.get("/metrics/history?metric_name=TTFT&window=24h", headers=api_headers).json
    assert len(body["series"]) == 12
    assert [p["run_id"] for p in body["series"][0]["points"]] == [r.id for r in runs]


@pytest.mark.parametrize("statistic, field", [("mean", "mean_value"), ("median", "median"), ("p95", "p95")])
def test_history_points_are_each_runs_own_statistic(client, api_headers, simulate, statistic, field):
    runs = [simulate(seed=s, n=50) for s in range(2)]
    url = f"/metrics/history?metric_name=TPS&window=24h&statistic={statistic}"
    series = {s["llm"]: s["points"] for s in client.get(url, headers=api_headers).json["series"]}
    for index, run in enumerate(runs):
        ranking = client.get(f"/metrics/?metric_name=TPS&run_id={run.id}", headers=api_headers).json
        for result in ranking["results"]:
            assert series[result["llm"]][index]["value"] == pytest.approx(result[field])


def test_the_catalogues_list_twelve_llms_and_four_metrics(client, api_headers):
    assert len(client.get("/llms", headers=api_headers).json["llms"]) == 12
    metrics = client.get("/metric-definitions", headers=api_headers).json["metrics"]
    assert {m["name"]: m["unit"] for m in metrics}["TPS"] == "tokens/second"


def test_rankings_are_cached_in_redis_and_a_new_run_shows_at_once(client, api_headers, simulate, redis_client, environ):
    first = simulate(seed=1)
    miss = client.get("/metrics/?metric_name=TTFT", headers=api_headers)
    hit = client.get("/metrics/?metric_name=TTFT", headers=api_headers)
    assert (miss.headers["X-Cache"], hit.headers["X-Cache"]) == ("miss", "hit")
    assert hit.data == miss.data and hit.json["run"]["id"] == first.id
    assert list(redis_client.scan_iter(match=environ["CACHE_KEY_PREFIX"] + "response:*/metrics/*"))
    second = simulate(seed=2)
    fresh = client.get("/metrics/?metric_name=TTFT", headers=api_headers)
    assert (fresh.headers["X-Cache"], fresh.json["run"]["id"]) == ("miss", second.id)


def test_json_and_csv_of_one_url_are_cached_apart(client, api_headers, simulate):
    simulate()
    for _ in range(2):
        assert client.get("/metrics/all", headers=api_headers).is_json
        csv_response = client.get("/metrics/all", headers={**api_headers, "Accept": "text/csv"})
        assert csv_response.mimetype == "text/csv" and "attachment" in csv_response.headers["Content-Disposition"]


def test_errors_and_unauthorized_requests_are_never_served_from_the_cache(client, api_headers, simulate):
    simulate()
    client.get("/metrics/?metric_name=TTFT", headers=api_headers)
    assert client.get("/metrics/?metric_name=TTFT").status_code == 401
    assert "X-Cache" not in client.get("/metrics/?metric_name=NOPE", headers=api_headers).headers


def test_with_redis_down_rankings_are_served_uncached(clean_app, environ, api_headers, simulate):
    simulate()
    client = create_app({**environ, "CACHE_REDIS_URL": "redis://127.0.0.1:1/0"}).test_client()
    for _ in range(2):
        response = client.get("/metrics/?metric_name=TTFT", headers=api_headers)
        assert response.status_code == 200 and len(response.json["results"]) == 12


@pytest.mark.parametrize(
    "query, status, complaint",
    [
        ("/metrics/", 400, "metric_name is required"),
        ("/metrics/?metric_name=BLEU", 400, "unknown metric_name"),
        ("/metrics/?metric_name=TTFT&statistic=mode", 400, "unknown statistic"),
        ("/metrics/?metric_name=TTFT&window=1y", 400, "unknown window"),
        ("/metrics/?metric_name=TTFT&run_id=abc", 400, "run_id"),
        ("/metrics/?metric_name=TTFT&run_id=5&window=24h", 400, "give one of run_id, window and campaign_id"),
        ("/metrics/?metric_name=TTFT&run_id=999", 404, "does not exist"),
        ("/metrics/?metric_name=TTFT&format=xml", 400, "unknown format"),
        ("/metrics/all?method=mean", 400, "unknown method"),
        ("/metrics/all?weights=TTFT", 400, "weights"),
        ("/metrics/all?weights=BLEU:1", 400, "unknown metric in weights"),
        ("/metrics/history?metric_name=TTFT&window=latest", 400, "unknown window"),
        ("/metrics/?metric_name=" + "A" * 5000, 400, "longer than"),
        ("/metrics/?metric_name=TTFT'%20OR%201=1--", 400, "unknown metric_name"),
    ],
)
def test_bad_parameters_get_a_json_error_naming_the_problem(client, api_headers, query, status, complaint):
    response = client.get(query, headers=api_headers)
    assert response.status_code == status
    assert complaint in response.json["error"]["message"]


@pytest.mark.parametrize("path", ["/metrics/", "/metrics/history", "/metrics/?metric_name=%20"])
def test_a_query_without_a_metric_lists_the_catalogues(client, api_headers, path):
    error = client.get(path, headers=api_headers).json["error"]
    assert error["message"] == "metric_name is required"
    assert error["choices"] == ["TTFT", "TPS", "e2e_latency", "RPS"]


def test_rankings_need_an_api_key(client):
    response = client.get("/metrics/?metric_name=TTFT")
    assert response.status_code == 401 and response.is_json
