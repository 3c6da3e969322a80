"""Cached answers are keyed by the parameters their view reads, so nobody can plant an answer
for another request or fill the cache with parameters the view ignores."""

import pytest

from src.application.use_cases.simulation import SimulationUseCases


@pytest.fixture
def simulated(clean_app):
    clean_app.extensions["injector"].get(SimulationUseCases).run_now(seed=3, samples_per_pair=200)


def cache_entries(redis_client, environ) -> int:
    return sum(1 for _ in redis_client.scan_iter(match=environ["CACHE_KEY_PREFIX"] + "response:*"))


def test_an_encoded_query_cannot_poison_the_page_a_user_asks_for_later(client, simulated):
    poison = client.get("/visualize?metric_name%3DTPS%26statistic%3Dp95%26window=7d")
    assert poison.status_code == 200 and b"TTFT" in poison.data  # the view ignores the odd name
    wanted = client.get("/visualize?metric_name=TPS&statistic=p95&window=7d")
    assert wanted.status_code == 200
    assert "<title>TPS" in wanted.data.decode() or "Tokens Per Second" in wanted.data.decode()
    assert wanted.data != poison.data


def test_an_encoded_query_cannot_poison_an_api_answer(client, simulated, api_headers):
    poison = client.get("/metrics/?metric_name=TTFT&run_id%3D1%26statistic=p99", headers=api_headers)
    assert poison.status_code == 200 and poison.json["statistic"] == "mean"
    wanted = client.get("/metrics/?metric_name=TTFT&run_id=1&statistic=p99", headers=api_headers)
    assert wanted.json["statistic"] == "p99" and wanted.json["run"]["id"] == 1


def test_parameters_a_view_ignores_create_no_cache_entries(client, simulated, api_headers, redis_client, environ):
    client.get("/visualize")
    client.get("/metrics/?metric_name=TTFT", headers=api_headers)
    before = cache_entries(redis_client, environ)
    for n in range(50):
        assert client.get(f"/visualize?utm={n}").headers["X-Cache"] == "hit"
        assert client.get(f"/metrics/?metric_name=TTFT&utm={n}", headers=api_headers).headers["X-Cache"] == "hit"
    assert cache_entries(redis_client, environ) == before == 2


def test_a_parameter_given_twice_is_read_once_by_the_view_and_the_key(client, simulated, api_headers):
    first = client.get("/metrics/?metric_name=TTFT&statistic=p95&statistic=p50", headers=api_headers)
    again = client.get("/metrics/?metric_name=TTFT&statistic=p95", headers=api_headers)
    assert first.json["statistic"] == again.json["statistic"] == "p95"
    assert again.headers["X-Cache"] == "hit"


def test_a_client_holding_the_current_answer_gets_a_304_until_a_run_completes(client, clean_app, simulated,
                                                                              api_headers):  # fmt: skip
    first = client.get("/metrics/?metric_name=TTFT", headers=api_headers)
    assert first.headers["Cache-Control"] == "private, no-cache" and "Accept" in first.headers["Vary"]
    etag = first.headers["ETag"]
    for _ in range(2):  # the computed answer's tag is the cached answer's
        again = client.get("/metrics/?metric_name=TTFT", headers={**api_headers, "If-None-Match": etag})
        assert (again.status_code, again.data, again.headers["ETag"]) == (304, b"", etag)
    other = client.get("/metrics/?metric_name=TPS", headers={**api_headers, "If-None-Match": etag})
    assert other.status_code == 200 and other.headers["ETag"] != etag
    assert client.get("/metrics/?metric_name=TTFT", headers={"If-None-Match": etag}).status_code == 401

    clean_app.extensions["injector"].get(SimulationUseCases).run_now(seed=4, samples_per_pair=200)
    fresh = client.get("/metrics/?metric_name=TTFT", headers={**api_headers, "If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["ETag"] != etag
    assert fresh.json["run"]["id"] != first.json["run"]["id"]


def test_with_redis_unreachable_answers_still_revalidate(environ, clean_app, api_headers):
    """The data version comes from the database, so the tag stays true without Redis."""
    from src.infrastructure.app import create_app

    clean_app.extensions["injector"].get(SimulationUseCases).run_now(seed=3, samples_per_pair=200)
    client = create_app({**environ, "CACHE_REDIS_URL": "redis://127.0.0.1:1/0"}).test_client()
    etag = client.get("/metrics/?metric_name=TTFT", headers=api_headers).headers["ETag"]
    again = client.get("/metrics/?metric_name=TTFT", headers={**api_headers, "If-None-Match": etag})
    assert again.status_code == 304
