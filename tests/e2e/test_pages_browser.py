"""The pages in a real headless Chromium: charts drawn, selectors work, offline, no errors."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from src.application.use_cases.simulation import SimulationUseCases

pytestmark = pytest.mark.slow


@dataclass
class Visit:
    """A browser page that records console errors and every URL it requests."""

    page: object
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def visit(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    visits = []

    def open_page(path: str) -> Visit:
        page = context.new_page()
        visit = Visit(page)
        document = live_server + path

        def on_console(message) -> None:
            # The document's own 4xx status (a page with a message) is logged too; it is no error.
            if message.type == "error" and message.location.get("url") != document:
                visit.errors.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda error: visit.errors.append(str(error)))
        page.on("request", lambda request: visit.requests.append(request.url))
        page.goto(live_server + path)
        page.wait_for_load_state("networkidle")
        visits.append(visit)
        return visit

    yield open_page
    for visit in visits:
        assert visit.errors == [], visit.errors
        assert all(url.startswith(live_server) for url in visit.requests), visit.requests
    context.close()


@pytest.fixture
def simulated(clean_app):
    simulations = clean_app.extensions["injector"].get(SimulationUseCases)
    for seed in (1, 2, 3):
        simulations.run_now(seed=seed, samples_per_pair=300)


def count(page, selector: str) -> int:
    return page.locator(selector).count()


def test_visualize_draws_the_ranking_distribution_and_trend(visit, simulated, screenshots):
    page = visit("/visualize").page
    assert count(page, "#chart-ranking .barlayer .point") == 12
    assert count(page, "#chart-distribution .boxlayer .trace") == 12
    assert count(page, "#chart-distribution .xtick") == 12  # one box per LLM, side by side
    assert count(page, "#chart-trend .scatterlayer .trace") == 12
    assert "lower is better" in page.locator("#chart-ranking .ytitle").text_content()
    assert page.locator("#chart-ranking .yerror").count() == 12  # 95% CI error bars
    assert "Run #3" in page.locator(".selection").text_content()
    page.screenshot(path=str(screenshots / "visualize.png"), full_page=True)


def test_switching_the_metric_changes_the_chart_and_the_url(visit, simulated):
    page = visit("/visualize?metric_name=TTFT").page
    with page.expect_navigation():
        page.select_option("#metric-select", "TPS")
    page.wait_for_load_state("networkidle")
    assert "metric_name=TPS" in page.url
    assert "TPS (tokens/second) — higher is better" in page.locator("#chart-ranking .ytitle").text_content()


def test_visualize_all_draws_scores_heatmap_and_the_pareto_scatter(visit, simulated, screenshots):
    page = visit("/visualize/all").page
    assert count(page, "#chart-scores .barlayer .point") == 12
    assert count(page, "#chart-heatmap .hm") == 1
    assert count(page, "#chart-scatter .scatterlayer .trace:first-child .point") == 12
    assert "Pareto front" in page.locator("#chart-scatter .legend").text_content()
    page.screenshot(path=str(screenshots / "visualize-all.png"), full_page=True)


def test_before_any_run_the_pages_show_an_empty_state(visit, clean_app):
    for path in ("/visualize", "/visualize/all"):
        page = visit(path).page
        assert page.locator("#empty-state").is_visible()
        assert count(page, "section.chart") == 0


def test_an_unknown_metric_shows_the_page_with_a_message(visit, simulated):
    page = visit("/visualize?metric_name=BLEU").page
    assert "unknown metric_name" in page.locator(".message").text_content()
    assert page.locator("#metric-select").is_visible()
