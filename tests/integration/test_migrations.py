"""`flask db upgrade` builds the whole schema on a fresh database; `downgrade base` removes it."""

import pytest
from sqlalchemy import create_engine, inspect

from src.infrastructure.app import create_app
from src.infrastructure.database import db

TABLES = {"llms", "metrics", "simulation_runs", "metric_summaries", "samples", "users", "api_keys", "endpoints"}


def flask_db(app, *args):
    result = app.test_cli_runner().invoke(args=["db", *args])
    assert result.exit_code == 0, result.output + repr(result.exception)


@pytest.fixture(params=["postgresql", "sqlite"])
def fresh_database_url(request, make_database, tmp_path):
    return make_database() if request.param == "postgresql" else f"sqlite:///{tmp_path / 'fresh.db'}"


def test_upgrade_builds_every_table_and_downgrade_base_removes_them(fresh_database_url):
    app = create_app({"DATABASE_URL": fresh_database_url, "LOG_LEVEL": "warning"})
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    flask_db(app, "upgrade")
    assert set(inspect(engine).get_table_names()) >= TABLES
    flask_db(app, "downgrade", "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    flask_db(app, "upgrade")  # and back again: the downgrade left nothing behind
    engine.dispose()


def test_on_postgresql_samples_are_partitioned_by_day(app):
    with app.app_context(), db.engine.connect() as connection:
        strategy = connection.exec_driver_sql(
            "SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'samples'::regclass"
        ).scalar()
    assert strategy == "r"  # range, on recorded_on


def test_simulate_on_an_upgraded_but_unseeded_database_seeds_the_catalogue_first(make_database):
    app = create_app({"DATABASE_URL": make_database(), "LOG_LEVEL": "warning"})
    flask_db(app, "upgrade")
    result = app.test_cli_runner().invoke(args=["simulate", "--samples-per-pair", "10", "--seed", "1"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "completed: 480 samples" in result.output
    with app.app_context():
        db.engine.dispose()
