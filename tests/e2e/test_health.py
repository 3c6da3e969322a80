"""Liveness and readiness over HTTP, with each dependency up and down."""

from flask_migrate import upgrade

from src.infrastructure.app import create_app


def test_health_answers_with_and_without_the_trailing_slash(client):
    for path in ("/health/", "/health"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.json == {"status": "ok"}


def test_ready_reports_database_and_cache_ok_on_postgresql_and_redis(client):
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json == {"status": "ready", "checks": {"database": "ok", "cache": "ok"}}


def test_ready_names_the_cache_when_redis_is_down(environ):
    app = create_app({**environ, "CACHE_REDIS_URL": "redis://127.0.0.1:1/0"})
    response = app.test_client().get("/ready")
    assert response.status_code == 503
    assert response.json["failing"] == ["cache"]
    assert response.json["checks"]["database"] == "ok"


def test_ready_names_the_database_when_it_is_down(environ):
    app = create_app({**environ, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"})
    response = app.test_client().get("/ready")
    assert response.status_code == 503
    assert response.json["failing"] == ["database"]


def test_the_embedded_default_is_ready_on_sqlite_and_the_in_process_cache(tmp_path):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'jounce.db'}", "LOG_LEVEL": "warning"})
    with app.app_context():
        upgrade()
    response = app.test_client().get("/ready")
    assert response.status_code == 200, response.json
