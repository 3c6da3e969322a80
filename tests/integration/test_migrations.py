"""`flask db upgrade` builds the whole schema on a fresh database; `downgrade base` removes it."""

import json

import numpy as np
import pytest
from sqlalchemy import create_engine, inspect

from src.application.services.plans import plan_key, prompts_digest
from src.application.use_cases.benchmarks import BenchmarkUseCases
from src.application.use_cases.simulation import SimulationUseCases
from src.infrastructure.app import create_app
from src.infrastructure.database import db
from tests.support.fake_openai import Behaviour, FakeOpenAI

TABLES = {
    "llms",
    "metrics",
    "simulation_runs",
    "metric_summaries",
    "rollups",
    "samples",
    "users",
    "api_keys",
    "endpoints",
}


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
    assert "completed: 372 samples" in result.output  # 12 LLMs x (3 metrics x 10 + one RPS)
    with app.app_context():
        db.engine.dispose()


def test_the_intervals_revision_gives_old_summaries_intervals_and_the_slow_tail_from_their_sketch(make_database):
    app = create_app({"DATABASE_URL": make_database(), "LOG_LEVEL": "warning"})
    flask_db(app, "upgrade")
    result = app.test_cli_runner().invoke(args=["simulate", "--samples-per-pair", "400", "--seed", "5"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    flask_db(app, "downgrade", "0003")  # as a summary was kept before: no intervals, TPS p99 the fast tail
    with app.app_context(), db.engine.begin() as connection:
        higher = {row.id for row in connection.exec_driver_sql("SELECT id FROM metrics WHERE direction = 'higher'")}
        connection.exec_driver_sql("UPDATE metric_summaries SET p99 = -1 WHERE metric_id IN (2, 4)")
    assert higher == {2, 4}  # TPS and RPS
    flask_db(app, "upgrade")
    with app.app_context():
        summaries = db.session.execute(db.text("SELECT llm_id, metric_id, p99, intervals FROM metric_summaries")).all()
        samples = {
            (llm, metric): np.sort(np.asarray(values))
            for llm, metric, values in db.session.execute(
                db.text("SELECT llm_id, metric_id, array_agg(v) FROM samples, unnest(sample_values) v GROUP BY 1, 2")
            )
        }
        db.engine.dispose()
    assert len(summaries) == 48
    for llm, metric, p99, intervals in summaries:
        ordered = samples[llm, metric]
        assert set(intervals) == {"mean", "p50", "p90", "p95", "p99"}
        if ordered.size == 1:  # RPS, one value a run: nothing bounds it, and its tail is the value
            assert intervals["p50"] == [None, None] and p99 == pytest.approx(ordered[0], rel=0.011)
            continue
        low, high = intervals["p50"]
        # Ranks 179 and 219 of 400, read from the sketch (within its 1%).
        assert low == pytest.approx(ordered[179 - 1], rel=0.011) and high == pytest.approx(ordered[219 - 1], rel=0.011)
        if metric in higher:
            assert p99 == pytest.approx(ordered[3], rel=0.011)  # the sketch's sample at rank 0.01 * 399
        else:
            assert p99 == pytest.approx(np.percentile(ordered, 99), rel=1e-12)  # kept as it was


def test_the_prompt_sets_revision_moves_given_prompts_out_of_runs_and_refiles_their_rollups(make_database):
    app = create_app({"DATABASE_URL": make_database(), "LOG_LEVEL": "warning"})
    flask_db(app, "upgrade")
    assert app.test_cli_runner().invoke(args=["seed"]).exit_code == 0
    prompts = ("one two", "three")
    with FakeOpenAI(Behaviour(first_token_delay=0.01, token_delay=0.001, tokens=3)) as server:
        benchmarks = app.extensions["injector"].get(BenchmarkUseCases)
        benchmarks.add_endpoint("filed", "GPT-4o", server.base_url, "gpt-4o", None)
        for requests in (2, 2, 3):  # two runs of one plan, one of another: two series
            benchmarks.run_now("filed", benchmarks.plan(requests, warmup=0, prompts=prompts))

    def stored() -> tuple[list[dict], set[str], list[tuple]]:
        with app.app_context():
            plans = [row[0]["plan"] for row in db.session.execute(db.text("SELECT details FROM simulation_runs"))]
            keys = {row[0] for row in db.session.execute(db.text("SELECT DISTINCT plan_key FROM rollups"))}
            kept = db.session.execute(db.text("SELECT * FROM prompt_sets")).all()
            db.engine.dispose()
        return plans, keys, kept

    plans, keys, kept = stored()
    flask_db(app, "downgrade", "0017")  # as runs were kept before: their prompts inline
    with app.app_context():
        inline = [row[0]["plan"] for row in db.session.execute(db.text("SELECT details FROM simulation_runs"))]
        filed = {row[0] for row in db.session.execute(db.text("SELECT DISTINCT plan_key FROM run_counts"))}
        db.engine.dispose()
    assert [plan["prompts"] for plan in inline] == [list(prompts)] * 3
    assert filed == {plan_key(plan) for plan in inline} and not filed & keys  # the series under the old keys
    flask_db(app, "upgrade")
    assert stored() == (plans, keys, kept)  # back as they were made: the rollups under the plans' keys
    assert keys == {plan_key(plan) for plan in plans} and len(keys) == 2
    assert kept == [(prompts_digest(prompts), list(prompts))]


def test_the_simulated_only_samples_per_pair_revision_clears_it_from_measured_runs_and_back(make_database):
    app = create_app({"DATABASE_URL": make_database(), "LOG_LEVEL": "warning"})
    flask_db(app, "upgrade")
    assert app.test_cli_runner().invoke(args=["seed"]).exit_code == 0
    with FakeOpenAI(Behaviour(first_token_delay=0.01, token_delay=0.001, tokens=3)) as server:
        benchmarks = app.extensions["injector"].get(BenchmarkUseCases)
        benchmarks.add_endpoint("counted", "GPT-4o", server.base_url, "gpt-4o", None)
        benchmarks.run_now("counted", benchmarks.plan(3, warmup=0))
    app.extensions["injector"].get(SimulationUseCases).run_now(seed=1, samples_per_pair=20)

    def stored() -> list[tuple]:
        """Each run's source, samples_per_pair and its plan's requests (measured runs)."""
        with app.app_context():
            rows = db.session.execute(
                db.text("SELECT source, samples_per_pair, details FROM simulation_runs ORDER BY id")
            )
            found = [(source, n, (details or {}).get("plan", {}).get("requests")) for source, n, details in rows]
            db.engine.dispose()
        return found

    assert stored() == [("measured", None, 3), ("simulated", 20, None)]
    flask_db(app, "downgrade", "0018")  # as runs were kept before: a measured run's requests in it
    assert stored() == [("measured", 3, 3), ("simulated", 20, None)]
    with app.app_context():  # a plan without its requests (none was stored so) is given them
        details = db.session.execute(db.text("SELECT details FROM simulation_runs WHERE source = 'measured'")).scalar()
        details["plan"].pop("requests")
        db.session.execute(db.text("UPDATE simulation_runs SET details = :d WHERE source = 'measured'"),
                           {"d": json.dumps(details)})  # fmt: skip
        db.session.commit()
        db.engine.dispose()
    assert stored() == [("measured", 3, None), ("simulated", 20, None)]
    flask_db(app, "upgrade")
    assert stored() == [("measured", None, 3), ("simulated", 20, None)]
