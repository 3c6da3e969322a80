"""Watching endpoints against three local streaming servers, one of which slows down: the change is
flagged within one window, in the API and as Prometheus series; the others are not flagged."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest

from src.application.use_cases.benchmarks import BenchmarkUseCases
from src.application.use_cases.monitoring import MonitorSettings
from tests.support.fake_openai import Behaviour, fake_servers
from tests.support.polling import wait_until_finished

REQUESTS = 8  # a campaign's, per endpoint
# Campaigns before the slow-down, and after it (a window's): the fewest whose permutation test can
# reach the level (1 / C(12, 4) = 0.2%, under 1% over 4 statistics).
BEFORE, AFTER = 8, 4
SERVERS = {
    "fast": Behaviour(first_token_delay=0.02, token_delay=0.002, tokens=10),
    # Three times slower from the first request after BEFORE campaigns.
    "middle": Behaviour(
        first_token_delay=0.05, token_delay=0.004, tokens=10, slower_after=BEFORE * REQUESTS, slower_by=3.0
    ),
    "slow": Behaviour(first_token_delay=0.10, token_delay=0.008, tokens=10),
}


@pytest.fixture
def watched(clean_app):
    injector = clean_app.extensions["injector"]
    with fake_servers(SERVERS) as servers:
        for name, server in servers.items():
            injector.get(BenchmarkUseCases).add_endpoint(name, "GPT-4o", server.base_url, "m", None)
        try:
            yield injector
        finally:
            injector.binder.bind(MonitorSettings, to=clean_app.extensions["settings"].monitoring)


def campaign(client, headers) -> datetime:
    """Run one campaign of the three; when it finished."""
    body = {"endpoints": list(SERVERS), "requests": REQUESTS, "warmup": 0, "concurrency": 2}
    found = client.post("/campaigns", json=body, headers=headers).json["campaign"]
    done = wait_until_finished(client, headers, f"/campaigns/{found['id']}", timeout=60)
    assert done["status"] == "completed" and all(r["run"]["invalid"] is None for r in done["runs"]), done
    return datetime.now(UTC)


def test_an_endpoint_that_slows_down_is_flagged_within_one_window(watched, client, api_headers):
    started = datetime.now(UTC)
    for _ in range(BEFORE):
        last_before = campaign(client, api_headers)
    time.sleep(0.05)
    split = datetime.now(UTC)  # the slow-down: the latest window starts here
    for _ in range(AFTER):
        campaign(client, api_headers)
    now = datetime.now(UTC)
    assert last_before < split
    watched.binder.bind(MonitorSettings, to=MonitorSettings(window=now - split, baseline=split - started))

    found = client.get("/monitoring/endpoints", headers=api_headers).json
    statuses = {s["endpoint"]: s for s in found["endpoints"]}
    assert [(name, s["runs"], s["baseline_runs"]) for name, s in statuses.items()] == [
        ("fast", AFTER, BEFORE), ("middle", AFTER, BEFORE), ("slow", AFTER, BEFORE)
    ]  # fmt: skip
    assert {name: s["changed"] for name, s in statuses.items()} == {"fast": False, "middle": True, "slow": False}
    median = statuses["middle"]["ttft"]["changes"]["median"]
    assert median["changed"] and median["worse"] and median["relative"] == pytest.approx(2.0, abs=0.4)
    assert statuses["middle"]["ttft"]["quantiles"]["median"]["value"] == pytest.approx(0.15, abs=0.03)
    assert statuses["middle"]["itl"]["changes"]["median"]["changed"]  # its tokens slowed too
    assert statuses["fast"]["requests"] == AFTER * REQUESTS and statuses["fast"]["error_rates"] == {}

    scrape = client.get("/-/metrics").text
    changed = {
        (endpoint, metric, quantile): float(value)
        for endpoint, metric, quantile, value in re.findall(
            r'jounce_endpoint_changed\{endpoint="(\w+)",llm="GPT-4o",metric="(\w+)",quantile="([\d.]+)"\} (\S+)', scrape
        )
    }
    assert changed[("middle", "ttft", "0.5")] == 1.0 and changed[("fast", "ttft", "0.5")] == 0.0
    assert sum(changed.values()) >= 2 and all(endpoint == "middle" for (endpoint, _, _), v in changed.items() if v)
    assert "jounce_endpoint_results_up 1.0" in scrape
    ttft = re.search(r'jounce_endpoint_latency_seconds\{endpoint="fast",llm="GPT-4o",metric="ttft",quantile="0.5"\} '
                     r"(\S+)", scrape)  # fmt: skip
    assert ttft and float(ttft.group(1)) == pytest.approx(0.02, abs=0.01)

    listing = client.get("/visualize/endpoints").text
    rows = re.findall(r'<a href="/visualize/endpoints/(\w+)">.*?<td class="(changed)?">(yes|no)', listing, re.S)
    assert rows == [("fast", "", "no"), ("middle", "changed", "yes"), ("slow", "", "no")]
    page = client.get("/visualize/endpoints/middle")
    assert page.status_code == 200
    assert re.search(r'id="endpoint-changed">yes: TTFT median \+\d+%', page.text)
    for chart in ("ttft", "itl", "front", "campaign-ttft", "campaign-tps", "campaign-scatter"):
        assert f'id="chart-{chart}"' in page.text
    trend = client.get("/visualize/endpoints/middle/ttft.csv").text.splitlines()
    medians = [float(row.split(",")[3]) for row in trend[1:]]
    assert len(medians) == BEFORE + AFTER and max(medians[:BEFORE]) < 70 < 130 < min(medians[BEFORE:])
    front = dict(row.split(",")[:2] for row in client.get("/visualize/endpoints/front.csv").text.splitlines())
    assert front["endpoint"] == "median TTFT (ms)"  # as in the table beside it
    assert float(front["fast"]) == pytest.approx(20, abs=10)
    # Its last campaign's charts give TTFT in ms, as the charts beside them; the campaign's own page
    # gives it in seconds, as rankings do.
    last = re.search(r'Its last campaign: <a href="(/visualize/campaigns/\d+)"', page.text)
    assert last
    for path, unit, fast_ttft in (
        ("/visualize/endpoints/middle/campaign-{}.csv", "ms", 20),
        (last[1] + "/{}.csv", "seconds", 0.02),
    ):
        bars = [row.split(",") for row in client.get(path.format("ttft")).text.splitlines()]
        assert bars[0][3] == f"median ({unit})"
        assert float(next(row[3] for row in bars if row[2] == "fast")) == pytest.approx(fast_ttft, rel=0.5)
        scatter = [row.split(",") for row in client.get(path.format("scatter")).text.splitlines()]
        assert scatter[0][1] == f"TTFT ({unit})"
        assert float(next(row[1] for row in scatter if row[0] == "fast")) == pytest.approx(fast_ttft, rel=0.5)
    assert client.get("/visualize/endpoints/nowhere").status_code == 404
