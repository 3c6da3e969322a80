"""The pages in a real headless Chromium: charts drawn, selectors work, offline, no errors."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

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
def viewport_width() -> int:
    return 1280


@pytest.fixture
def visit(browser, live_server, viewport_width):
    context = browser.new_context(viewport={"width": viewport_width, "height": 900})
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
    lines = page.locator("#chart-ranking .ytitle tspan.line").all_text_contents()  # beside the plot: two lines
    assert lines == ["mean TPS (tokens/second)", "higher is better"]


def test_visualize_all_draws_scores_heatmap_and_the_pareto_scatter(visit, simulated, screenshots):
    page = visit("/visualize/all").page
    assert count(page, "#chart-scores .barlayer .point") == 12
    assert count(page, "#chart-heatmap .hm") == 1
    assert count(page, "#chart-scatter .scatterlayer .trace .point") == 12  # LLMs off and on the front
    assert "Pareto front" in page.locator("#chart-scatter .legend").text_content()
    legend = page.evaluate(
        """() => [...document.querySelectorAll('#chart-scatter .legend .traces')].map(item => [
             item.querySelector('.legendtext').textContent,
             getComputedStyle(item.querySelector('.scatterpts, .js-line')).fill ||
             getComputedStyle(item.querySelector('.js-line')).stroke])"""
    )
    colours = dict(legend)
    assert colours["LLM"] == "rgb(43, 108, 176)" and colours["on the Pareto front"] == "rgb(217, 119, 6)"
    scatter = "document.querySelector('#chart-scatter .plot').layout"
    assert page.evaluate(f"[{scatter}.xaxis.range[0], {scatter}.yaxis.range[0]]") == [0, 0]  # to scale
    page.screenshot(path=str(screenshots / "visualize-all.png"), full_page=True)


SCATTER = "document.querySelector('#chart-scatter .plot')"
# The names of the points inside the plot's ranges (a zoomed plot hides the others), with their boxes.
SHOWN_NAMES = f"""(() => {{
  const plot = {SCATTER}, x = plot.layout.xaxis.range, y = plot.layout.yaxis.range;
  const shown = plot.data.filter(t => t.mode === 'markers+text').flatMap(t => t.text.filter((_, i) =>
      t.x[i] >= x[0] && t.x[i] <= x[1] && t.y[i] >= y[0] && t.y[i] <= y[1]));
  return [...plot.querySelectorAll('.textpoint text')].filter(t => shown.includes(t.textContent))
      .map(t => [t.textContent, t.getBoundingClientRect()]);
}})()"""


def names_cut_off(page) -> list[str]:
    return page.evaluate(
        f"""() => {{
          const area = {SCATTER}.querySelector('.nsewdrag').getBoundingClientRect();
          return {SHOWN_NAMES}.filter(([, r]) => r.left < area.left || r.right > area.right).map(([name]) => name);
        }}"""
    )


def overlapping_names(page) -> list[list[str]]:
    return page.evaluate(
        f"""() => {{
          const boxes = {SHOWN_NAMES};
          return boxes.flatMap(([name, a], i) => boxes.slice(i + 1).filter(([, b]) =>
              Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1 &&
              Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1).map(([other]) => [name, other]));
        }}"""
    )


def wait_until(page, expression: str, seconds: float = 10.0) -> None:
    """Polled from here: the page's CSP forbids the eval that wait_for_function polls with."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            pytest.fail(f"still false after {seconds} s: {expression}")
        time.sleep(0.05)


def names_placed(page) -> None:
    """Waits until the page has moved the names from where plotly put them (all above their
    points) to their sides: an array of sides a trace."""
    wait_until(page, f"Array.isArray({SCATTER}.data[0].textposition)")


@pytest.mark.parametrize("viewport_width", [400, 1280])
def test_every_name_in_the_latency_speed_scatter_is_whole_and_clear_of_the_others_on_a_phone_too(
    visit, simulated, viewport_width
):
    page = visit("/visualize/all").page
    names_placed(page)
    assert page.locator("#chart-scatter .textpoint text").count() == 12
    assert names_cut_off(page) == []
    assert overlapping_names(page) == []  # plotly alone put all twelve above their points, crowded ones over each other


def test_a_window_narrowed_to_a_phone_redraws_its_charts_for_one(visit, simulated):
    page = visit("/visualize/all").page
    names_placed(page)
    page.set_viewport_size({"width": 400, "height": 900})
    # As if opened on the phone: smaller names, no text in the heatmap's cells, and the names placed again.
    wait_until(page, f"{SCATTER}.data[0].textfont?.size === 11")
    names_placed(page)
    texts = page.evaluate("() => document.querySelector('#chart-heatmap .plot').data[0].texttemplate")
    assert texts == ""
    assert page.evaluate(LAYOUT) == []
    assert names_cut_off(page) == []
    assert overlapping_names(page) == []
    page.set_viewport_size({"width": 1280, "height": 900})  # and back
    wait_until(page, "document.querySelector('#chart-heatmap .plot').data[0].texttemplate === '%{text}'")
    wait_until(page, f"{SCATTER}.data[0].textfont === undefined")
    names_placed(page)
    assert overlapping_names(page) == []


def test_names_are_placed_again_in_a_zoomed_scatter(visit, simulated):
    page = visit("/visualize/all").page
    names_placed(page)
    # Every name put back above its point, then zoomed on the crowded half (the faster-starting
    # LLMs), as a drag would.
    page.evaluate(
        f"""() => {{
          const plot = {SCATTER}, x = plot.layout.xaxis.range, y = plot.layout.yaxis.range;
          return Plotly.restyle(plot, {{textposition: 'top center'}})
              .then(() => Plotly.relayout(plot, {{'xaxis.range': [x[0], x[1] / 2], 'yaxis.range': y}}));
        }}"""
    )
    names_placed(page)
    assert len(page.evaluate(f"() => {SHOWN_NAMES}")) >= 4
    assert names_cut_off(page) == []
    assert overlapping_names(page) == []


def test_before_any_run_the_pages_show_an_empty_state(visit, clean_app):
    for path in ("/visualize", "/visualize/all"):
        page = visit(path).page
        assert page.locator("#empty-state").is_visible()
        assert count(page, "section.chart") == 0
    assert "simulation run has not finished" in page.locator("#empty-state").text_content()


def test_before_any_measured_run_the_empty_state_points_to_benchmarking(visit, simulated):
    page = visit("/visualize?metric_name=TTFT&source=measured").page
    empty = page.locator("#empty-state")
    assert "once an endpoint is benchmarked" in empty.text_content()
    assert "simulation" not in empty.text_content()
    assert empty.get_by_role("link", name="endpoints").get_attribute("href") == "/visualize/endpoints"


def test_an_unknown_metric_shows_the_page_with_a_message(visit, simulated):
    page = visit("/visualize?metric_name=BLEU").page
    assert "unknown metric_name" in page.locator(".message").text_content()
    assert page.locator("#metric-select").is_visible()


LAYOUT = """() => {
  const inside = (inner, outer) => inner.left >= outer.left - 0.5 && inner.right <= outer.right + 0.5;
  const problems = [];
  if (document.documentElement.scrollWidth > window.innerWidth) {
    problems.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} > ${window.innerWidth}`);
  }
  for (const card of document.querySelectorAll('section.chart')) {
    const box = card.getBoundingClientRect();
    for (const part of card.querySelectorAll('h2, .hint, .main-svg, .modebar, details, .xtick text')) {
      const own = part.getBoundingClientRect();
      if (own.width && !inside(own, box)) problems.push(`${card.id} ${part.className.baseVal ?? part.className}`);
    }
    const title = card.querySelector('h2').getBoundingClientRect();
    const plot = card.querySelector('.plot').getBoundingClientRect();
    if (title.bottom > plot.top + 0.5) problems.push(`${card.id}: the plot covers its title`);
    for (const axis of card.querySelectorAll('.xtitle, .ytitle')) {
      const own = axis.getBoundingClientRect();
      if (!inside(own, plot) || own.top < plot.top - 0.5 || own.bottom > plot.bottom + 0.5) {
        problems.push(`${card.id}: the axis title "${axis.textContent}" is cut off`);
      }
    }
  }
  for (const table of document.querySelectorAll('table')) {
    const scroller = table.closest('.table-scroll') || table.parentElement;
    const own = scroller.getBoundingClientRect();
    if (own.right > window.innerWidth + 0.5) problems.push(`a table overflows: ${own.right}`);
  }
  return problems;
}"""


@pytest.mark.parametrize("viewport_width", [1280, 400])
@pytest.mark.parametrize("path", ["/", "/visualize", "/visualize?metric_name=TPS", "/visualize/all", "/login",
                                  "/register"])  # fmt: skip
def test_every_part_of_a_page_stays_inside_its_card_and_the_screen(visit, simulated, path, viewport_width):
    page = visit(path).page
    assert page.evaluate(LAYOUT) == []
    if path == "/visualize/all":  # heatmap cells keep their values as text only where they are legible
        texts = page.evaluate("() => document.querySelector('#chart-heatmap .plot').data[0].texttemplate")
        assert texts == ("%{text}" if viewport_width == 1280 else "")
    for link in ("Log in", "Register", "API keys"):
        assert page.get_by_role("link", name=link).first.is_visible()


def signed_up(visit):
    """A browser page that has registered an account and logged in (it shows the keys page)."""
    from tests.e2e.test_accounts import PASSWORD, unique_email

    page = visit("/register").page
    email = unique_email()
    for name, value in (("email", email), ("password", PASSWORD), ("confirm", PASSWORD)):
        page.fill(f"input[name={name}]", value)
    page.click("button[type=submit]")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    return page


@pytest.mark.parametrize("viewport_width", [400])
def test_the_keys_page_fits_a_phone(visit, simulated, live_server, browser, viewport_width):
    page = signed_up(visit)
    page.fill("input[name=name]", "phone")
    page.click("form.panel button[type=submit]")
    assert page.locator("#new-key").is_visible()
    assert page.evaluate(LAYOUT) == []
    page.once("dialog", lambda dialog: dialog.dismiss())  # revoking asks first; dismissed, nothing happens
    page.click("button.danger")
    assert page.locator("td", has_text="active").count() == 1


def test_a_logged_in_browser_sees_no_log_in_or_register_in_the_menu_of_cached_pages(visit, simulated):
    page = signed_up(visit)

    def menu() -> list[str]:
        page.goto(page.url.split("/keys")[0] + "/visualize")  # a page cached for everyone
        return [link for link in ("Log in", "Register", "API keys") if page.get_by_role("link", name=link).is_visible()]

    assert menu() == ["API keys"]
    page.goto(page.url.replace("/visualize", "/keys"))
    page.get_by_role("button", name="Log out").click()
    assert menu() == ["Log in", "Register", "API keys"]


def test_under_every_chart_its_numbers_are_a_table_and_a_csv(visit, simulated, live_server):
    import urllib.request

    for path, charts in (("/visualize?metric_name=TPS", 3), ("/visualize/all", 3)):
        page = visit(path).page
        assert count(page, "section.chart details.numbers table") == charts
        ranking = page.locator("section.chart").first
        header = [cell.text_content() for cell in ranking.locator("thead th").all()]
        first_row = [cell.text_content() for cell in ranking.locator("tbody tr").first.locator("td").all()]
        href = ranking.locator("a.csv").get_attribute("href")
        with urllib.request.urlopen(live_server + href, timeout=5) as response:
            lines = response.read().decode().splitlines()
            assert response.headers["Content-Type"].startswith("text/csv")
        assert lines[0].split(",") == header and lines[1].split(",")[:2] == first_row[:2]


def test_the_heatmap_shows_the_best_darkest(visit, simulated):
    page = visit("/visualize/all").page
    figure = page.evaluate("() => JSON.parse(document.getElementById('figure-heatmap').textContent)")
    scale = figure["data"][0]["colorscale"]

    def lightness(colour: str) -> int:
        return sum(int(colour[i : i + 2], 16) for i in (1, 3, 5))

    assert lightness(scale[-1][1]) < lightness(scale[0][1]) / 3  # score 1 is dark, 0 is near white


@pytest.fixture
def swept(clean_app):
    """A finished sweep of a local server that serves two requests at once."""
    from src.application.domain.model import COMMAND_LINE, RunStatus, SweepLoad
    from src.application.services.measures import Slo
    from src.application.use_cases.benchmarks import BenchmarkUseCases
    from src.application.use_cases.sweeps import SweepSpec, SweepUseCases
    from tests.integration.test_sweeps import SATURATES_AT_TWO
    from tests.support.fake_openai import FakeOpenAI

    injector = clean_app.extensions["injector"]
    benchmarks, sweeps = injector.get(BenchmarkUseCases), injector.get(SweepUseCases)
    with FakeOpenAI(SATURATES_AT_TWO) as server:
        benchmarks.add_endpoint("two-at-once", "GPT-4o", server.base_url, "gpt-4o", None)
        plan = benchmarks.plan(20, warmup=0, slo=Slo(e2e_ms=60.0))  # one late request a stage: see test_sweeps
        spec = SweepSpec(SweepLoad.CONCURRENCY, (1, 2, 4, 8), min_gain=0.2)
        sweep = sweeps.request("two-at-once", plan, spec, COMMAND_LINE)
        assert sweep.id is not None
        deadline = time.monotonic() + 60
        while (report := sweeps.get(sweep.id)).sweep.status in (RunStatus.QUEUED, RunStatus.RUNNING):
            assert time.monotonic() < deadline, "the sweep did not finish in 60 s"
            time.sleep(0.1)
        return report


@pytest.mark.parametrize("viewport_width", [1280, 400])
def test_a_sweeps_page_draws_its_curve_with_the_knee_beside_its_numbers(
    visit, swept, live_server, screenshots, viewport_width
):
    import urllib.request

    page = visit(f"/visualize/sweeps/{swept.sweep.id}").page
    assert page.locator("#sweep-status").text_content() == "completed"
    assert page.locator("#sweep-stop").text_content().startswith("saturated: throughput at concurrency 4")
    assert page.locator("#sweep-knee").text_content().startswith("concurrency 2:")
    assert page.locator("#sweep-slo").text_content() == "2"
    assert count(page, "#chart-curve .scatterlayer .trace") == 3  # e2e p50, TTFT p99, the knee
    assert count(page, "#chart-curve .scatterlayer .trace:first-child .point") == 3  # a point a stage
    assert "knee (concurrency 2)" in page.locator("#chart-curve .legend").text_content()
    rows = page.locator("#chart-curve tbody tr")
    assert rows.count() == 3 and rows.first.locator("td").first.text_content() == "1"
    href = page.locator("#chart-curve a.csv").get_attribute("href")
    with urllib.request.urlopen(live_server + href, timeout=5) as response:
        header = response.read().decode().splitlines()[0]
    assert header.startswith("concurrency,run,output tokens/s,requests/s,mean in flight,")
    assert page.evaluate(LAYOUT) == []
    if viewport_width == 1280:
        page.screenshot(path=str(screenshots / "sweep.png"), full_page=True)


@pytest.fixture
def compared(clean_app):
    """Two finished campaigns of three local servers of known speeds."""
    from src.application.domain.model import COMMAND_LINE
    from src.application.use_cases.benchmarks import BenchmarkUseCases
    from src.application.use_cases.campaigns import CampaignUseCases
    from tests.integration.test_campaigns import SPEEDS
    from tests.support.fake_openai import fake_servers

    injector = clean_app.extensions["injector"]
    benchmarks, campaigns = injector.get(BenchmarkUseCases), injector.get(CampaignUseCases)
    with fake_servers(SPEEDS) as servers:
        for name, server in servers.items():
            benchmarks.add_endpoint(name, "GPT-4o", server.base_url, "m", None)
        plan = benchmarks.plan(12, warmup=0, concurrency=2)
        return [campaigns.execute(campaigns.queue(list(SPEEDS), plan, COMMAND_LINE).campaign.id) for _ in range(2)]


def test_an_endpoints_page_draws_its_trend_its_campaign_and_where_it_stands(visit, compared, screenshots):
    page = visit("/visualize/endpoints/middle").page
    assert count(page, "#chart-ttft .scatterlayer .point") == 2  # a run a point
    assert count(page, "#chart-ttft .yerror") == 2  # each with its 95% interval
    assert count(page, "#chart-itl .scatterlayer .point") == 2
    assert count(page, "#chart-front .scatterlayer .trace:first-child .point") == 3  # every watched endpoint
    assert count(page, "#chart-campaign-ttft .barlayer .point") == 3
    assert "no baseline yet" in page.locator("#endpoint-changed").text_content()
    assert "2 runs over the last 24 hours" in page.locator("dl").first.text_content()
    # Its two runs finished seconds apart: the axis still spans an hour, not milliseconds.
    start, end = page.evaluate("document.querySelector('#chart-ttft .plot').layout.xaxis.range")
    assert datetime.fromisoformat(end) - datetime.fromisoformat(start) == timedelta(hours=1)
    front = "document.querySelector('#chart-front .plot')"
    assert page.evaluate(f"[{front}.layout.xaxis.range[0], {front}.layout.yaxis.range[0]]") == [0, 0]
    assert page.evaluate(LAYOUT) == []
    page.screenshot(path=str(screenshots / "endpoint.png"), full_page=True)
    listing = visit("/visualize/endpoints").page
    assert listing.locator("#endpoint-statuses tbody tr").count() == 3
    campaign = visit(f"/visualize/campaigns/{compared[-1].campaign.id}").page
    assert campaign.locator("#campaign-status").text_content() == "completed"
    assert count(campaign, "#chart-scatter .scatterlayer .point") >= 3 and campaign.evaluate(LAYOUT) == []
    scatter = "document.querySelector('#chart-scatter .plot').layout"
    assert campaign.evaluate(f"[{scatter}.xaxis.range[0], {scatter}.yaxis.range[0]]") == [0, 0]  # to scale


def test_the_api_docs_draw_every_operation_of_the_services_document(visit, client):
    """Swagger UI 4 could not read OpenAPI 3.1, which pydantic writes: /docs said "Unable to render
    this definition" and drew nothing."""
    page = visit("/docs").page
    wait_until(page, "document.querySelectorAll('.opblock').length > 0")
    operations = [op for methods in client.get("/openapi.json").json["paths"].values() for op in methods.values()]
    assert count(page, ".opblock") == sum(len(op.get("tags", [None])) for op in operations)  # one a tag it has
    assert "Unable to render" not in page.locator("#swagger-ui").text_content()
