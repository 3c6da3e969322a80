"""Simulation runs over HTTP: trigger, follow, list, and the errors scripts rely on."""

import time

import pytest


def wait_for_run(client, headers, run_id, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.get(f"/runs/{run_id}", headers=headers).json["run"]
        if run["status"] in ("completed", "failed"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} still {run['status']} after {timeout} s")


def test_posting_a_run_answers_202_with_its_location_and_the_run_completes(client, api_headers):
    response = client.post("/runs", json={"samples_per_pair": 200, "seed": 11}, headers=api_headers)
    assert response.status_code == 202
    run = response.json["run"]
    assert response.headers["Location"] == f"/runs/{run['id']}"
    assert (run["status"], run["seed"], run["samples_per_pair"]) == ("queued", 11, 200)
    finished = wait_for_run(client, api_headers, run["id"])
    assert finished["status"] == "completed"
    assert finished["sample_count"] == 48 * 200
    assert finished["duration_seconds"] >= 0


def test_runs_are_listed_newest_first_with_paging_and_a_status_filter(client, api_headers):
    ids = [client.post("/runs", json={"samples_per_pair": 10}, headers=api_headers).json["run"]["id"] for _ in range(3)]
    for run_id in ids:
        wait_for_run(client, api_headers, run_id)
    page = client.get("/runs?limit=2&offset=0", headers=api_headers).json
    assert [r["id"] for r in page["runs"]] == ids[::-1][:2]
    assert page["total"] == 3
    assert client.get("/runs?status=failed", headers=api_headers).json["total"] == 0


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
    assert response.json["error"]["choices"] == ["samples_per_pair", "seed"]
