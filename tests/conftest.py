"""Shared fixtures: a private PostgreSQL database and Redis key prefix per test session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from src.adapters.tasks.inprocess import InProcessTaskQueue
from src.application.ports.task_queue import AbstractTaskQueue
from src.application.use_cases.catalogue import CatalogueUseCases
from src.infrastructure.app import create_app
from src.infrastructure.database import db

ADMIN_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Databases the suite creates (and drops) on that server: a prefix of their own, so a shared
# server can tell them apart.
DATABASE_PREFIX = os.environ.get("TEST_DATABASE_PREFIX", "jounce_test_")
API_KEY = "test-bootstrap-api-key"
TABLES = (
    "api_keys, users, samples, rollups, run_counts, metric_summaries, simulation_runs, campaigns, endpoints, "
    "metrics, llms"
)


def psycopg2_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg2://", 1)


@pytest.fixture(scope="session")
def admin_engine():
    engine = create_engine(psycopg2_url(ADMIN_DATABASE_URL), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        pytest.exit(f"PostgreSQL is not reachable at {ADMIN_DATABASE_URL} (TEST_DATABASE_URL): {error}", 3)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.exit(f"Redis is not reachable at {REDIS_URL} (TEST_REDIS_URL): {error}", 3)
    yield client
    client.close()


@pytest.fixture(scope="session")
def make_database(admin_engine):
    """Creates empty PostgreSQL databases that are dropped when the session ends."""
    created = []

    def make() -> str:
        name = f"{DATABASE_PREFIX}{uuid.uuid4().hex[:12]}"
        with admin_engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return str(admin_engine.url.set(database=name).render_as_string(hide_password=False))

    yield make
    with admin_engine.connect() as connection:
        for name in created:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def environ(make_database, redis_client) -> Iterator[dict[str, str]]:
    """The environment of the app under test: PostgreSQL, Redis, a private cache prefix (its keys
    removed when the session ends)."""
    environ = {
        "JOUNCE_ENV": "test",
        "DATABASE_URL": make_database(),
        "CACHE_REDIS_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": f"jounce-test-{uuid.uuid4().hex[:8]}:",
        "API_KEY": API_KEY,
        "LOG_LEVEL": "warning",
        "RATE_LIMIT": "100/second",  # the rate limit tests set their own
        "QUOTA_QUEUED_RUNS": "100",  # and so do the quota tests
        "QUOTA_SAMPLES_PER_DAY": str(10**10),
        # The suite's measured runs share 2 cores with their local servers and everything else:
        # a client-bound run is the self-check tests' business, not a noisy moment's.
        "BENCHMARK_MAX_LOOP_LAG_MS": "200",
    }
    yield environ
    keys = list(redis_client.scan_iter(match=environ["CACHE_KEY_PREFIX"] + "*"))  # answers, rate-limit counters
    if keys:
        redis_client.delete(*keys)


@pytest.fixture(scope="session")
def app(environ) -> Flask:
    app = create_app(environ)
    with app.app_context():
        upgrade()
    return app


@pytest.fixture
def clean_app(app: Flask, redis_client: redis.Redis, environ: dict[str, str]) -> Flask:
    """The app with an empty database (catalogue seeded) and an empty cache."""
    queue = app.extensions["injector"].get(AbstractTaskQueue)
    if isinstance(queue, InProcessTaskQueue):
        queue.wait_idle()  # a run the last test queued must not write into this one
    with app.app_context(), db.engine.begin() as connection:
        partitions = connection.scalars(
            text("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'samples'::regclass")
        ).all()
        for partition in partitions:
            connection.execute(text(f"DROP TABLE {partition}"))
        connection.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    prefix = environ["CACHE_KEY_PREFIX"]
    keys = list(redis_client.scan_iter(match=prefix + "*"))  # answers, rate-limit counters
    if keys:
        redis_client.delete(*keys)
    app.extensions["response_cache"].data_changed()  # read the emptied database's version
    app.extensions["injector"].get(CatalogueUseCases).seed()
    return app


@pytest.fixture
def client(clean_app: Flask) -> FlaskClient:
    return clean_app.test_client()


@pytest.fixture
def api_headers() -> dict[str, str]:
    return {"api-key": API_KEY}
