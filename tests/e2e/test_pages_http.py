"""The pages over HTTP: sizes, caching, assets, security headers, the original form."""

import gc

import pytest
from jinja2 import ChoiceLoader, DictLoader, TemplateSyntaxError

from src.application.use_cases.simulation import SimulationUseCases
from src.infrastructure.app import create_app


def simulate(app, seed=1):
    app.extensions["injector"].get(SimulationUseCases).run_now(seed=seed, samples_per_pair=200)


def test_pages_stay_small_and_load_plotly_from_the_service(client, clean_app):
    simulate(clean_app)
    for path in ("/", "/visualize", "/visualize/all"):
        response = client.get(path)
        assert response.status_code == 200
        assert len(response.data) < 200_000, path
        assert b"cdn" not in response.data.lower()
    html = client.get("/visualize").data.decode()
    assert '<script src="/static/vendor/plotly.min.js?v=' in html


def test_the_home_page_leads_to_measured_endpoints_and_says_what_simulated_rankings_rank(client):
    html = client.get("/").data.decode()
    assert "measures OpenAI-compatible streaming endpoints" in html and 'href="/visualize/endpoints"' in html
    simulated = html.split('id="home-simulated">')[1].split("</p>")[0]
    assert "rank the catalogue's assumed latencies, not measurements" in " ".join(simulated.split())


def test_static_assets_are_cached_for_a_long_time(client):
    html = client.get("/").data.decode()
    css = html.split('href="')[1].split('"')[0]
    response = client.get(css)
    assert response.status_code == 200
    assert "max-age=31536000" in response.headers["Cache-Control"]


def test_pages_are_cached_and_a_new_run_refreshes_them(client, clean_app):
    simulate(clean_app, seed=1)
    assert client.get("/visualize").headers["X-Cache"] == "miss"
    assert client.get("/visualize").headers["X-Cache"] == "hit"
    simulate(clean_app, seed=2)
    fresh = client.get("/visualize")
    assert fresh.headers["X-Cache"] == "miss" and b"Run <strong>#2</strong>" in fresh.data


def test_the_original_post_form_still_selects_the_metric(client, clean_app):
    simulate(clean_app)
    response = client.post("/visualize", data={"metric_name": "RPS"})
    assert response.status_code == 200
    assert b'<option value="RPS" selected>' in response.data and b"Requests Per Second" in response.data


def test_an_unknown_metric_is_a_page_with_a_message_not_an_error_page(client):
    response = client.get("/visualize?metric_name=<script>alert(1)</script>")
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert b"unknown metric_name" in response.data and b"<script>alert(1)" not in response.data


def test_pages_send_a_content_security_policy_and_framing_protection(client):
    headers = client.get("/visualize").headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"


def test_the_favicon_answers_where_browsers_look_for_it(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"


def test_the_api_docs_group_operations_by_tag_and_link_back_to_the_site(client):
    document = client.get("/openapi.json").json
    tags = {tag["name"] for tag in document["tags"]}
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert all(op["tags"] and set(op["tags"]) <= tags for op in operations)
    html = client.get("/docs").data.decode()
    assert 'href="/"' in html and 'href="/visualize"' in html


def test_simulated_rankings_say_what_they_rank_and_at_which_load(client, clean_app):
    simulate(clean_app)
    for path in ("/visualize", "/visualize/all"):
        page = " ".join(client.get(path).data.decode().split())
        assert "rank the catalogue's assumed latency profiles and deployment capacities" in page
        assert "16 requests at once on each LLM's deployment" in page
    window = " ".join(client.get("/visualize?window=24h").data.decode().split())
    assert "<strong>1 run</strong> of the last 24h" in window


def test_production_answers_tell_browsers_to_keep_to_https(clean_app, environ):
    from src.infrastructure.app import create_app

    production = create_app({**environ, "JOUNCE_ENV": "production", "SECRET_KEY": "s" * 40}).test_client()
    assert production.get("/health/").headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "Strict-Transport-Security" not in clean_app.test_client().get("/health/").headers


def test_the_distribution_of_a_higher_is_better_metric_runs_from_its_1st_to_its_99th_percentile(client, clean_app):
    simulate(clean_app)
    rows = client.get("/visualize/distribution.csv?metric_name=TPS").data.decode().splitlines()[1:]
    assert len(rows) == 12
    for row in rows:
        p1, p25, median, p75, p99 = (float(cell) for cell in row.split(",")[1:6])
        assert p1 < p25 < median < p75 < p99  # the box's raw quantiles, not the slow-tail statistics


def test_a_worker_readies_itself_at_boot_and_a_broken_template_stops_it_there(environ):
    """gunicorn's post_worker_init calls warm_up: the first page a user asks for pays no compiling,
    and full garbage collections skip what the worker held at boot (no 70 ms pauses)."""
    app = create_app(environ)
    try:
        app.warm_up()  # the shipped templates compile
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # this test process goes on
    app.jinja_env.loader = ChoiceLoader([DictLoader({"broken.html": "{% if %}"}), app.jinja_env.loader])
    with pytest.raises(TemplateSyntaxError):
        app.warm_up()


def test_the_trend_shows_only_the_llms_with_runs_in_its_window(client, clean_app):
    added = clean_app.test_cli_runner().invoke(args=["llms", "add", "--name", "Qwen 2.5 72B", "--vendor", "Alibaba"])
    assert added.exit_code == 0, added.output
    simulate(clean_app)  # the simulator keeps to the LLMs with a profile: none for the added one
    header = client.get("/visualize/trend.csv?metric_name=TTFT").data.decode().splitlines()[0].split(",")
    assert header[0] == "run finished at (UTC)" and len(header) == 13 and "Qwen 2.5 72B" not in header
    html = client.get("/visualize?metric_name=TTFT").data.decode()
    assert "Qwen 2.5 72B" not in html.split("Trend over the runs")[1]
