"""Campaigns over HTTP against three local streaming servers of known speeds: measured side by side,
ranked by endpoint in their true order with intervals, and runs of other plans never pooled."""

from __future__ import annotations

import re

import pytest

from src.application.domain import bounds
from src.application.domain.bounds import Bound
from src.application.use_cases.benchmarks import BenchmarkUseCases
from tests.support.fake_openai import Behaviour, fake_servers
from tests.support.network import free_port
from tests.support.polling import wait_until_finished

# First tokens after 20, 50 and 100 ms; then a token every 2, 4 and 8 ms (500, 250 and 125 tokens/s).
SPEEDS = {
    "fast": Behaviour(first_token_delay=0.02, token_delay=0.002, tokens=10),
    "middle": Behaviour(first_token_delay=0.05, token_delay=0.004, tokens=10),
    "slow": Behaviour(first_token_delay=0.10, token_delay=0.008, tokens=10),
}


@pytest.fixture
def three_servers(clean_app):
    with fake_servers(SPEEDS) as servers:
        benchmarks = clean_app.extensions["injector"].get(BenchmarkUseCases)
        llms = {"fast": "GPT-4o", "middle": "GPT-4o", "slow": "Llama 3.1 70B"}  # two providers of one LLM
        for name, server in servers.items():
            benchmarks.add_endpoint(name, llms[name], server.base_url, "m", None)
        yield servers


def campaign(client, headers, **plan):
    body = {"endpoints": list(SPEEDS), "requests": 20, "warmup": 0, "concurrency": 2} | plan
    response = client.post("/campaigns", json=body, headers=headers)
    assert response.status_code == 202, response.json
    return response


def test_a_campaign_ranks_three_endpoints_in_their_true_order_with_intervals(three_servers, client, api_headers):
    response = campaign(client, api_headers)
    campaign_id = response.json["campaign"]["id"]
    assert response.headers["Location"] == f"/campaigns/{campaign_id}"
    assert response.json["campaign"]["ranking"] is None  # not yet run

    found = wait_until_finished(client, api_headers, f"/campaigns/{campaign_id}", timeout=60)
    assert found["status"] == "completed"
    assert [(r["endpoint"], r["run"]["status"], r["run"]["invalid"]) for r in found["runs"]] == [
        ("fast", "completed", None), ("middle", "completed", None), ("slow", "completed", None)
    ]  # fmt: skip
    seeds = {r["run"]["seed"] for r in found["runs"]}
    assert {r["run"]["campaign_id"] for r in found["runs"]} == {campaign_id}
    one = client.get(f"/runs/{found['runs'][0]['run']['id']}", headers=api_headers).json["run"]
    assert one["campaign_id"] == campaign_id  # a run read alone says whose part it was
    assert len(seeds) == 1  # one arrival schedule for all
    overall = found["ranking"]
    assert [(r["endpoint"], r["llm"], r["rank"]) for r in overall["results"]] == [
        ("fast", "GPT-4o", 1), ("middle", "GPT-4o", 2), ("slow", "Llama 3.1 70B", 3)
    ]  # fmt: skip
    assert overall["window"]["name"] == "campaign" and overall["window"]["campaign_id"] == campaign_id

    for metric, order in (("TTFT", ["fast", "middle", "slow"]), ("TPS", ["fast", "middle", "slow"])):
        ranked = client.get(f"/metrics/?metric_name={metric}&statistic=median&campaign_id={campaign_id}"
                            "&group_by=endpoint", headers=api_headers).json  # fmt: skip
        assert [r["endpoint"] for r in ranked["results"]] == order and ranked["source"] == "measured"
        assert all(r["ci95"]["sufficient"] and not r["tied_with"] for r in ranked["results"])
        assert [(r["rank95"]["low"], r["rank95"]["high"]) for r in ranked["results"]] == [(1, 1), (2, 2), (3, 3)]
        assert ranked["window"]["plan"]["runs"] == 3 and len(ranked["window"]["plan"]["key"]) == 12
    ttft = {r["endpoint"]: r["value"] for r in client.get(
        f"/metrics/?metric_name=TTFT&statistic=median&campaign_id={campaign_id}&group_by=endpoint",
        headers=api_headers).json["results"]}  # fmt: skip
    assert ttft["fast"] == pytest.approx(0.02, abs=0.01) and ttft["slow"] == pytest.approx(0.10, abs=0.015)

    by_llm = client.get(f"/metrics/?metric_name=TTFT&campaign_id={campaign_id}", headers=api_headers).json
    assert [(r["llm"], r["n"]) for r in by_llm["results"]] == [("GPT-4o", 40), ("Llama 3.1 70B", 20)]
    assert "endpoint" not in by_llm["results"][0]

    page = client.get(f"/visualize/campaigns/{campaign_id}", headers=api_headers)
    assert page.status_code == 200
    for part in ('id="chart-ttft"', 'id="chart-tps"', 'id="chart-scatter"', "fast", "middle", "slow"):
        assert part in page.text
    by_endpoint = client.get(f"/visualize?metric_name=TTFT&source=measured&group_by=endpoint&campaign_id={campaign_id}")
    assert by_endpoint.status_code == 200 and '<option value="endpoint" selected>endpoints</option>' in by_endpoint.text
    assert by_endpoint.text.index("<td>fast</td>") < by_endpoint.text.index("<td>slow</td>")
    assert f"<strong>3 runs</strong> of campaign {campaign_id}," in by_endpoint.text
    fast_run = next(r["run"]["id"] for r in found["runs"] if r["endpoint"] == "fast")
    assert f">#{fast_run} fast · " in by_endpoint.text  # the run selector tells each run's endpoint
    assert "Distribution per endpoint, best first" in by_endpoint.text  # its table's first column: endpoint
    overall = f"/visualize/all?source=measured&group_by=endpoint&campaign_id={campaign_id}"
    assert "Per-metric win rate of every endpoint" in client.get(overall).text
    for chart, header in (("scores", "rank,95% rank interval,endpoint,score"), ("heatmap", "endpoint,TTFT (seconds)")):
        csv_text = client.get(overall.replace("/all?", f"/all/{chart}.csv?")).text
        assert csv_text.startswith(header), csv_text[:80]
    csv = client.get(f"/visualize/campaigns/{campaign_id}/ttft.csv", headers=api_headers).text.splitlines()
    assert csv[0].startswith("rank,95% rank interval,endpoint,") and [row.split(",")[2] for row in csv[1:]] == [
        "fast", "middle", "slow"
    ]  # fmt: skip


def test_runs_of_two_plans_are_never_pooled_and_the_error_names_both(three_servers, client, api_headers):
    for requests in (8, 12):
        found = campaign(client, api_headers, requests=requests).json["campaign"]
        wait_until_finished(client, api_headers, f"/campaigns/{found['id']}", timeout=60)
    day = "/metrics/?metric_name=TTFT&source=measured&window=24h&group_by=endpoint"
    refused = client.get(day, headers=api_headers)
    assert refused.status_code == 400
    error = refused.json["error"]
    assert "2 plans, which are never pooled: choose one with plan" in error["message"]
    assert len(error["choices"]) == 2 and any("12 requests, concurrency 2" in c for c in error["choices"])
    key = next(c.split(" ")[0] for c in error["choices"] if "12 requests" in c)
    chosen = client.get(f"{day}&plan={key}", headers=api_headers).json
    assert chosen["window"]["plan"]["key"] == key and [r["n"] for r in chosen["results"]] == [12, 12, 12]

    # The page, whose selector lists no plans, offers each as a link to itself with that plan.
    page = client.get("/visualize?metric_name=TTFT&source=measured&window=24h&group_by=endpoint")
    assert page.status_code == 400 and "never pooled: choose one with plan:" in page.text
    links = dict(re.findall(r'<li><a href="([^"]+)">(\w+) \(', page.text.split('id="plan-choices"')[1]))
    assert sorted(links.values()) == sorted(c.split(" ")[0] for c in error["choices"])
    link = next(href for href, plan in links.items() if plan == key).replace("&amp;", "&")
    assert link.startswith("/visualize?") and f"plan={key}" in link and "group_by=endpoint" in link
    shown = client.get(link)
    assert shown.status_code == 200 and 'id="chart-ranking"' in shown.text
    assert "<strong>3 runs</strong> of the last 24h," in shown.text  # the runs of the plan chosen
    assert f'id="selection-plan">Plan {key}: 12 requests, concurrency 2' in shown.text


def test_latest_and_windows_hold_each_endpoints_runs_however_many_runs_of_others_came_after(
    three_servers, client, api_headers, monkeypatch
):
    monkeypatch.setattr(bounds, "RUNS_READ", Bound(1, 3))  # the runs a ranking would read one by one
    for endpoints in (list(SPEEDS), ["fast", "middle"], ["fast", "middle"]):
        found = campaign(client, api_headers, endpoints=endpoints, requests=6).json["campaign"]
        wait_until_finished(client, api_headers, f"/campaigns/{found['id']}", timeout=60)
    latest = client.get("/metrics/?metric_name=TTFT&source=measured&group_by=endpoint", headers=api_headers).json
    assert sorted(r["endpoint"] for r in latest["results"]) == ["fast", "middle", "slow"]
    assert latest["window"]["runs"] == 3
    page = " ".join(client.get("/visualize?metric_name=TTFT&source=measured&group_by=endpoint").text.split())
    assert "<strong>3 runs</strong>, each endpoint's newest, finished " in page
    day = client.get("/metrics/?metric_name=TTFT&source=measured&window=24h&group_by=endpoint", headers=api_headers)
    assert day.json["window"]["runs"] == 7 and day.json["window"]["plan"]["runs"] == 7  # from the rollups
    assert sorted((r["endpoint"], r["n"]) for r in day.json["results"]) == [("fast", 18), ("middle", 18), ("slow", 6)]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"endpoints": ["fast"]}, 400, "the number of endpoints must be between 2 and 16, got 1"),
        ({"endpoints": ["fast", "nowhere"]}, 404, "no endpoint is named 'nowhere'"),
        ({"endpoints": ["fast", "slow"], "concurrency": 201}, 400, "= 402 streams, more than one holds (400"),
    ],
)
def test_a_campaign_it_cannot_run_is_refused_naming_the_problem(three_servers, client, api_headers, body, status,
                                                                message):  # fmt: skip
    response = client.post("/campaigns", json={"requests": 200} | body, headers=api_headers)
    assert response.status_code == status and message in response.json["error"]["message"], response.json


def test_an_unknown_campaign_is_a_404_on_the_api_and_the_page(client, api_headers):
    assert client.get("/campaigns/999", headers=api_headers).status_code == 404
    assert client.get("/visualize/campaigns/999", headers=api_headers).status_code == 404


def test_a_campaign_runs_from_the_command_line_and_prints_its_ranking(three_servers, clean_app):
    runner = clean_app.test_cli_runner()
    result = runner.invoke(args=["benchmark", "--endpoint", "slow, fast,middle", "--requests", "12", "--warmup", "0"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].endswith(": 12 requests to each of slow, fast, middle, side by side")
    assert [line.split(":")[0].strip() for line in lines[1:4]] == ["slow", "fast", "middle"]
    assert all("completed" in line for line in lines[1:4])
    assert lines[4].startswith("TTFT median, best first: 1. fast ") and ", 3. slow " in lines[4]
    assert lines[5].startswith("TPS median, best first: 1. fast ")
    refused = runner.invoke(args=["benchmark", "--endpoint", "fast,nowhere"])
    assert refused.exit_code == 1 and "no endpoint is named 'nowhere'" in refused.output


def test_a_campaign_page_calls_a_failed_run_untrusted(three_servers, clean_app, client, api_headers):
    benchmarks = clean_app.extensions["injector"].get(BenchmarkUseCases)
    benchmarks.add_endpoint("gone", "GPT-4o", f"http://127.0.0.1:{free_port()}/v1", "m", None)  # nothing listens
    body = {"endpoints": ["fast", "gone"], "requests": 4, "warmup": 0}
    campaign_id = client.post("/campaigns", json=body, headers=api_headers).json["campaign"]["id"]
    found = wait_until_finished(client, api_headers, f"/campaigns/{campaign_id}", timeout=60)
    assert [r["run"]["status"] for r in found["runs"]] == ["completed", "failed"]
    page = client.get(f"/visualize/campaigns/{campaign_id}").text
    table = page.split('id="campaign-runs"')[1].split("</table>")[0]
    rows = re.findall(r"<tr><td>(\w+)</td>.*?<td>([^<]*)</td></tr>", table, re.S)
    assert rows == [("fast", "yes"), ("gone", "no")]  # as a sweep's failed stage: no figures to trust
    gone = client.get("/visualize/endpoints/gone").text  # no valid run: the campaign it failed in is linked
    assert f'of <a href="/visualize/campaigns/{campaign_id}">campaign {campaign_id}</a>) at ' in gone


def test_a_campaign_tells_each_endpoints_failed_requests_on_its_page_and_the_command_line(clean_app, client,
                                                                                           api_headers):  # fmt: skip
    """Its rankings read answered requests only: a fast endpoint failing one request in four
    would look the best without them."""
    servers = {"steady": Behaviour(first_token_delay=0.05, token_delay=0.002, tokens=10),
               "flaky": Behaviour(first_token_delay=0.02, token_delay=0.002, tokens=10, fail_every=4)}  # fmt: skip
    with fake_servers(servers) as started:
        benchmarks = clean_app.extensions["injector"].get(BenchmarkUseCases)
        for name, server in started.items():
            benchmarks.add_endpoint(name, "GPT-4o", server.base_url, "m", None)
        body = {"endpoints": ["steady", "flaky"], "requests": 12, "warmup": 0}
        campaign_id = client.post("/campaigns", json=body, headers=api_headers).json["campaign"]["id"]
        wait_until_finished(client, api_headers, f"/campaigns/{campaign_id}", timeout=60)
        result = clean_app.test_cli_runner().invoke(args=["benchmark", "--endpoint", "steady,flaky",
                                                          "--requests", "12", "--warmup", "0"])  # fmt: skip
    page = client.get(f"/visualize/campaigns/{campaign_id}").text
    table = page.split('id="campaign-runs"')[1].split("</table>")[0]
    rows = re.findall(r"<tr><td>(\w+)</td><td>\d+</td><td>completed</td>\s*<td>12</td><td>([^<]*)</td>", table)
    assert rows == [("steady", "none"), ("flaky", "3 of 12 failed (http_5xx 3)")]
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert re.fullmatch(r"  steady: run \d+ completed", lines[1])
    assert re.fullmatch(r"  flaky: run \d+ completed, 3 of 12 failed \(http_5xx 3\)", lines[2])
    # The endpoint's page and the list of watched endpoints tell its failures over both runs.
    assert 'id="endpoint-errors">http_5xx 25.0% of 24 sent</dd>' in client.get("/visualize/endpoints/flaky").text
    assert 'id="endpoint-errors">none of 24 sent</dd>' in client.get("/visualize/endpoints/steady").text
    listing = client.get("/visualize/endpoints").text
    assert re.search(r'/visualize/endpoints/flaky">.*?<td>http_5xx 25.0%</td>', listing, re.S)


def test_measured_history_gives_a_series_per_endpoint_not_an_llms_endpoints_in_turn(three_servers, client, api_headers):
    """fast and middle both serve GPT-4o: one line of both would zigzag between 20 and 50 ms."""
    for _ in range(2):
        found = campaign(client, api_headers, requests=6).json["campaign"]
        wait_until_finished(client, api_headers, f"/campaigns/{found['id']}", timeout=60)
    path = "/metrics/history?metric_name=TTFT&statistic=median&source=measured&window=24h"
    history = client.get(path, headers=api_headers).json
    series = {(s["endpoint"], s["llm"]): [p["value"] for p in s["points"]] for s in history["series"]}
    assert list(series) == [("fast", "GPT-4o"), ("middle", "GPT-4o"), ("slow", "Llama 3.1 70B")]
    assert all(value == pytest.approx(0.02, abs=0.01) for value in series[("fast", "GPT-4o")])
    assert all(value == pytest.approx(0.05, abs=0.015) for value in series[("middle", "GPT-4o")])
    assert all(len(values) == 2 for values in series.values())
    csv = client.get(f"{path}&format=csv", headers=api_headers).text.splitlines()
    assert csv[0] == "run_id,finished_at,llm,value,endpoint" and csv[1].endswith(",fast")
    # The page's lines too, named with their LLMs: a page ranking LLMs draws them.
    trend = client.get("/visualize/trend.csv?metric_name=TTFT&source=measured").text.splitlines()[0]
    assert trend == "run finished at (UTC),fast (GPT-4o),middle (GPT-4o),slow (Llama 3.1 70B)"
    assert history["plan"]["runs"] == 6 and history["plan"]["description"].startswith("6 requests")


def test_measured_history_follows_one_plan_as_the_ranking_beside_it_does(three_servers, client, api_headers):
    """A line through runs of 6 requests at concurrency 2 and of one request at a time moves with the plan."""
    found = campaign(client, api_headers, requests=6).json["campaign"]
    wait_until_finished(client, api_headers, f"/campaigns/{found['id']}", timeout=60)
    one = {"endpoint": "fast", "requests": 4, "warmup": 0}
    run = client.post("/benchmarks", json=one, headers=api_headers).json["run"]
    wait_until_finished(client, api_headers, f"/runs/{run['id']}", timeout=60)
    path = "/metrics/history?metric_name=TTFT&source=measured&window=24h"
    refused = client.get(path, headers=api_headers)
    assert refused.status_code == 400 and "2 plans, which are never pooled" in refused.json["error"]["message"]
    keys = [choice.split(" ")[0] for choice in refused.json["error"]["choices"]]
    followed = client.get(f"{path}&plan={keys[0]}", headers=api_headers).json  # the newest: the run by hand
    assert followed["plan"]["key"] == keys[0] and followed["plan"]["description"].startswith("4 requests")
    assert {s["endpoint"]: [p["run_id"] for p in s["points"]] for s in followed["series"]} == {
        "fast": [run["id"]], "middle": [], "slow": []
    }  # fmt: skip
    ranked = client.get(f"/metrics/?metric_name=TTFT&source=measured&plan={keys[1]}", headers=api_headers).json
    trend = client.get(f"/visualize/trend.csv?metric_name=TTFT&source=measured&plan={keys[1]}").text.splitlines()
    values = [cell for row in trend[1:] for cell in row.split(",")[1:] if cell]
    assert ranked["window"]["plan"]["key"] == keys[1] and len(values) == 3  # the campaign's one run of each
