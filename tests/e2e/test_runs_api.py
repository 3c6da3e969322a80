"""Simulation runs over HTTP: trigger, follow, list, and the errors scripts rely on."""

import pytest

from src.application.ports.task_queue import AbstractTaskQueue
from tests.support.polling import wait_until_finished


def wait_for_run(client, headers, run_id, timeout=30.0):
    return wait_until_finished(client, headers, f"/runs/{run_id}", timeout)


def test_posting_a_run_answers_202_with_its_location_and_the_run_completes(client, api_headers):
    body = {"samples_per_pair": 200, "seed": 11, "concurrency": 64}
    response = client.post("/runs", json=body, headers=api_headers)
    assert response.status_code == 202
    run = response.json["run"]
    assert response.headers["Location"] == f"/runs/{run['id']}"
    assert (run["status"], run["seed"], run["samples_per_pair"], run["requests"]) == ("queued", 11, 200, None)
    assert run["details"] == {"concurrency": 64}  # the load it puts on every LLM's deployment
    finished = wait_for_run(client, api_headers, run["id"])
    assert finished["status"] == "completed"
    assert finished["sample_count"] == 12 * (3 * 200 + 1)  # RPS: one value a run
    assert finished["duration_seconds"] >= 0


def test_runs_are_listed_newest_first_with_paging_and_a_status_filter(client, api_headers):
    ids = [client.post("/runs", json={"samples_per_pair": 10}, headers=api_headers).json["run"]["id"] for _ in range(3)]
    for run_id in ids:
        wait_for_run(client, api_headers, run_id)
    page = client.get("/runs?limit=2&offset=0", headers=api_headers).json
    assert [r["id"] for r in page["runs"]] == ids[::-1][:2]
    assert page["total"] == 3
    assert client.get("/runs?status=failed", headers=api_headers).json["total"] == 0


def test_an_endpoints_runs_are_listed_failed_ones_too_and_an_unknown_endpoint_names_the_known(
    client, clean_app, api_headers
):
    from src.application.use_cases.benchmarks import BenchmarkUseCases

    benchmarks = clean_app.extensions["injector"].get(BenchmarkUseCases)
    for name in ("down", "other"):
        benchmarks.add_endpoint(name, "GPT-4o", "http://127.0.0.1:9/v1", "m", None)  # nothing listens there
    failed = [benchmarks.run_now("down", benchmarks.plan(1, warmup=0)).id for _ in range(2)]
    benchmarks.run_now("other", benchmarks.plan(1, warmup=0))
    client.post("/runs", json={"samples_per_pair": 10}, headers=api_headers)
    listed = client.get("/runs?endpoint=down&status=failed", headers=api_headers).json
    assert [r["id"] for r in listed["runs"]] == failed[::-1] and listed["total"] == 2
    assert client.get("/runs?endpoint=down&status=completed", headers=api_headers).json["total"] == 0
    assert client.get("/runs", headers=api_headers).json["total"] == 4
    measured = client.get("/runs?source=measured", headers=api_headers).json
    assert measured["total"] == 3 and {r["source"] for r in measured["runs"]} == {"measured"}
    simulated = client.get("/runs?source=simulated", headers=api_headers).json
    assert simulated["total"] == 1 and simulated["runs"][0]["source"] == "simulated"
    wrong = client.get("/runs?source=real", headers=api_headers)
    assert wrong.status_code == 400 and wrong.json["error"]["choices"] == ["simulated", "measured"], wrong.json
    unknown = client.get("/runs?endpoint=up", headers=api_headers)
    assert unknown.status_code == 400
    assert unknown.json["error"] == {"status": 400, "message": "unknown endpoint 'up'", "choices": ["down", "other"]}


@pytest.mark.parametrize("headers", [{}, {"api-key": "nope"}, {"Authorization": "Bearer nope"}])
def test_runs_need_a_valid_api_key(client, headers):
    response = client.get("/runs", headers=headers)
    assert response.status_code == 401
    assert "API key" in response.json["error"]["message"]


def test_a_bearer_token_is_accepted_like_the_api_key_header(client, api_headers):
    response = client.get("/runs", headers={"Authorization": f"Bearer {api_headers['api-key']}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "query, complaint",
    [
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("offset=-1", "offset"),
        ("status=done", "status"),
    ],
)
def test_malformed_list_parameters_get_a_400_naming_them(client, api_headers, query, complaint):
    response = client.get(f"/runs?{query}", headers=api_headers)
    assert response.status_code == 400
    assert complaint in response.json["error"]["message"]


def test_an_unknown_status_lists_the_valid_ones(client, api_headers):
    response = client.get("/runs?status=done", headers=api_headers)
    assert response.json["error"]["choices"] == ["queued", "running", "completed", "failed"]


@pytest.mark.parametrize(
    "body",
    ['{"samples_per_pair": 1}', '{"samples_per_pair": "many"}', '{"seed": -5}', "[1, 2]", "{not json"],
)
def test_a_malformed_run_request_gets_a_400_and_creates_no_run(client, api_headers, body):
    response = client.post("/runs", data=body, content_type="application/json", headers=api_headers)
    assert response.status_code == 400
    assert client.get("/runs", headers=api_headers).json["total"] == 0


def test_an_unknown_run_is_a_404(client, api_headers):
    response = client.get("/runs/999999", headers=api_headers)
    assert response.status_code == 404
    assert response.json["error"]["message"] == "run 999999 does not exist"


def test_an_unexpected_method_is_a_405_listing_the_allowed_ones(client, api_headers):
    response = client.delete("/runs", headers=api_headers)
    assert response.status_code == 405
    assert "GET" in response.json["error"]["choices"]


def test_a_misspelt_field_is_refused_with_the_valid_ones(client, api_headers):
    response = client.post("/runs", json={"sample_per_pair": 10}, headers=api_headers)
    assert response.status_code == 400
    assert response.json["error"]["choices"] == ["concurrency", "samples_per_pair", "seed"]


def test_past_a_quota_the_api_answers_429_naming_it_and_starts_nothing(clean_app, environ):
    from src.application.domain.model import Role
    from src.application.use_cases.accounts import AccountUseCases
    from src.infrastructure.app import create_app

    app = create_app({**environ, "QUOTA_QUEUED_RUNS": "1", "QUOTA_SAMPLES_PER_DAY": "4800"})
    key = app.extensions["injector"].get(AccountUseCases).issue_api_key("ops", role=Role.OPERATOR).secret
    client = app.test_client()
    first = client.post("/runs", json={"samples_per_pair": 60}, headers={"api-key": key})  # 2,880 samples
    assert first.status_code == 202 and first.json["run"]["requested_by"].startswith("key:")
    refused = client.post("/runs", json={"samples_per_pair": 50}, headers={"api-key": key})
    assert refused.status_code == 429 and refused.is_json
    error = refused.json["error"]
    assert error["quota"]["name"] in ("queued_runs", "samples_per_day") and error["message"].startswith("quota ")
    client.application.extensions["injector"].get(AbstractTaskQueue).wait_idle()
    again = client.post("/runs", json={"samples_per_pair": 50}, headers={"api-key": key})  # 2,400 more: too many
    assert again.status_code == 429 and again.json["error"]["quota"] == {
        "name": "samples_per_day", "limit": 4800, "used": 2880, "asked": 2400,
    }  # fmt: skip
    assert client.get("/runs", headers={"api-key": key}).json["total"] == 1


def test_an_accounts_keys_share_its_quota_over_http(clean_app, environ):
    from src.application.domain.model import Role
    from src.application.use_cases.accounts import AccountUseCases
    from src.infrastructure.app import create_app

    app = create_app({**environ, "QUOTA_QUEUED_RUNS": "5", "QUOTA_SAMPLES_PER_DAY": "4800"})
    accounts = app.extensions["injector"].get(AccountUseCases)
    ada = accounts.register("ada@example.com", "Correct-Horse-42")
    accounts.set_role("ada@example.com", Role.OPERATOR)
    laptop, ci = (accounts.issue_api_key(name, ada.id, Role.OPERATOR).secret for name in ("laptop", "ci"))
    client = app.test_client()
    assert client.post("/runs", json={"samples_per_pair": 60}, headers={"api-key": laptop}).status_code == 202
    refused = client.post("/runs", json={"samples_per_pair": 50}, headers={"api-key": ci})
    assert refused.status_code == 429 and refused.json["error"]["quota"] == {
        "name": "samples_per_day", "limit": 4800, "used": 2880, "asked": 2400,
    }  # fmt: skip
    client.application.extensions["injector"].get(AbstractTaskQueue).wait_idle()


def test_a_reader_key_cannot_start_work(clean_app, client):
    from src.application.use_cases.accounts import AccountUseCases

    key = clean_app.extensions["injector"].get(AccountUseCases).issue_api_key("reader").secret
    for path, body in (("/runs", {"samples_per_pair": 10}), ("/benchmarks", {"endpoint": "x"})):
        response = client.post(path, json=body, headers={"api-key": key})
        assert response.status_code == 403 and "needs the role operator or admin" in response.json["error"]["message"]
    assert client.get("/runs", headers={"api-key": key}).status_code == 200  # it still reads


def test_readers_see_endpoint_names_and_models_but_not_their_addresses(clean_app, client, api_headers):
    from src.application.use_cases.accounts import AccountUseCases
    from src.application.use_cases.benchmarks import BenchmarkUseCases

    url = "http://127.0.0.1:9/v1"
    benchmarks = clean_app.extensions["injector"].get(BenchmarkUseCases)
    benchmarks.add_endpoint("paid", "GPT-4o", url, "gpt-4o", "PAID_API_KEY")
    reader = clean_app.extensions["injector"].get(AccountUseCases).issue_api_key("reader").secret
    seen = client.get("/endpoints", headers={"api-key": reader}).json["endpoints"][0]
    assert (seen["name"], seen["model"], seen["base_url"], seen["api_key_env"]) == ("paid", "gpt-4o", None, None)
    admin = client.get("/endpoints", headers=api_headers).json["endpoints"][0]  # the bootstrap key is an admin
    assert (admin["base_url"], admin["api_key_env"]) == (url, "PAID_API_KEY")
