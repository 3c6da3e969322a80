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
    ("get", "/metrics/all?method=minmax&weights=TTFT:2", None),
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
