"""The OpenAPI document describes the real responses, and Swagger UI is served offline."""

import pytest
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_spec_validator import validate

from src.application.use_cases.simulation import SimulationUseCases


@pytest.fixture
def document(client):
    return client.get("/openapi.json").json


def test_the_document_is_valid_openapi_3(document):
    validate(document)
    assert document["openapi"].startswith("3.")
    assert document["components"]["securitySchemes"]["apiKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "api-key",
    }


REQUESTS = [
    ("get", "/health/", None),
    ("get", "/ready", None),
    ("get", "/metrics/?metric_name=TTFT", None),
    ("get", "/metrics/?metric_name=TPS&statistic=p95&window=all", None),
    ("get", "/metrics/?metric_name=BLEU", None),
    ("get", "/metrics/?metric_name=TTFT&run_id=999", None),
    ("get", "/metrics/all", None),
    ("get", "/metrics/all?method=winrate&weights=TTFT:2", None),
    ("get", "/metrics/history?metric_name=RPS&window=7d", None),
    ("get", "/llms", None),
    ("get", "/metric-definitions", None),
    ("get", "/runs?limit=5", None),
    ("get", "/runs/1", None),
    ("get", "/runs/999", None),
    ("post", "/runs", {"samples_per_pair": 20}),
    ("post", "/runs", {"samples_per_pair": 1}),
]


@pytest.mark.parametrize("with_data", [False, True], ids=["empty", "with-a-run"])
def test_every_response_matches_the_document(client, clean_app, api_headers, document, with_data):
    if with_data:
        clean_app.extensions["injector"].get(SimulationUseCases).run_now(seed=1, samples_per_pair=100)
    spec = OpenAPI.from_dict(document)
    for method, path, body in REQUESTS:
        response = getattr(client, method)(path, headers=api_headers, json=body)
        spec.validate_response(WerkzeugOpenAPIRequest(response.request), WerkzeugOpenAPIResponse(response))
    unauthorized = client.get("/metrics/all")
    spec.validate_response(WerkzeugOpenAPIRequest(unauthorized.request), WerkzeugOpenAPIResponse(unauthorized))


def test_swagger_ui_loads_only_assets_the_service_serves(client):
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.data.decode()
    assert "http://" not in html and "https://" not in html
    for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/static/js/docs.js"):
        assert asset in html
        response = client.get(asset)
        assert response.status_code == 200, asset
    assert "max-age" in client.get("/docs/assets/swagger-ui.css").headers["Cache-Control"]


def test_the_document_states_the_domains_bounds_and_every_error_answer(document):
    from src.application.domain import bounds

    schemas = document["components"]["schemas"]
    run, plan = schemas["RunRequest"]["properties"], schemas["BenchmarkRequest"]["properties"]
    assert (run["samples_per_pair"]["minimum"], run["samples_per_pair"]["maximum"]) == (2, 2_000_000)
    assert (run["seed"]["minimum"], run["seed"]["maximum"]) == (0, 2**63 - 1)
    assert (plan["concurrency"]["maximum"], plan["requests"]["maximum"]) == (bounds.STREAMS.high, 10_000)
    assert (plan["rate"]["exclusiveMinimum"], plan["rate"]["maximum"]) == (0, 1000)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            answers = set(operation["responses"])
            if operation.get("security") != []:
                assert {"400", "401", "429", "503"} <= answers, (method, path)
            if method == "post":
                assert "403" in answers, path
            assert "422" not in answers, (method, path)  # the service answers 400, never 422


def test_ids_in_paths_are_documented_and_refused_with_a_404_past_the_bound(client, api_headers, document):
    from src.application.domain import bounds

    ids = [
        (path, parameter["schema"])
        for path, operations in document["paths"].items()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path" and parameter["schema"]["type"] == "integer"
    ]
    assert {path for path, _ in ids} == {"/runs/{run_id}", "/runs/{run_id}/requests", "/sweeps/{sweep_id}",
                                         "/campaigns/{campaign_id}"}  # fmt: skip
    assert all((schema["minimum"], schema["maximum"]) == (1, bounds.ROW_ID.high) for _, schema in ids)
    for url in ["/runs/0", f"/runs/{bounds.ROW_ID.high + 1}/requests", f"/campaigns/{2**64}"]:
        response = client.get(url, headers=api_headers)
        assert response.status_code == 404 and "error" in response.json, url
    assert client.get(f"/visualize/sweeps/{2**63}").status_code == 404


BODIES = [
    ("/runs", "RunRequest", {}, {"samples_per_pair", "seed", "concurrency"}),
    ("/benchmarks", "BenchmarkRequest", {"endpoint": "nowhere", "rate": 1000},  # burstiness shapes a rate
     {"requests", "concurrency", "rate", "burstiness", "warmup", "max_tokens"}),
]  # fmt: skip


@pytest.mark.parametrize("path, model, required, bounded", BODIES)
def test_each_bound_the_document_states_is_the_one_the_service_enforces(
    clean_app, environ, api_headers, document, path, model, required, bounded
):
    """At a documented limit a field passes validation (the answer is about something else:
    the unknown endpoint, or a daily quota too small for any run, so nothing runs); one step
    past it, a 400 names the field."""
    from src.infrastructure.app import create_app

    client = create_app({**environ, "QUOTA_SAMPLES_PER_DAY": "50"}).test_client()
    numbers = {n: s for n, s in document["components"]["schemas"][model]["properties"].items() if "maximum" in s}
    assert set(numbers) == bounded
    for name, schema in numbers.items():
        step = 1 if schema["type"] == "integer" else 0.001
        edges = [(schema["maximum"], True), (schema["maximum"] + step, False)]
        if "minimum" in schema:
            edges += [(schema["minimum"], True), (schema["minimum"] - step, False)]
        else:
            edges += [(schema["exclusiveMinimum"], False)]
        for value, valid in edges:
            response = client.post(path, json={**required, name: value}, headers=api_headers)
            refused = response.status_code == 400 and name in response.json["error"]["message"]
            assert refused is not valid, (path, name, value, response.json)
