import json
import re
from datetime import timedelta

import pytest

from src.application.use_cases.schedules import MeasurementSchedule
from src.infrastructure.schedule import parse_schedule
from src.infrastructure.settings import DEV_SECRET_KEY, ConfigurationError, Settings


def test_with_nothing_set_the_service_runs_on_sqlite_and_in_process_defaults(tmp_path):
    settings = Settings.from_env({}, tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path / 'jounce.db'}"
    assert settings.cache_redis_url is None
    assert not settings.uses_celery
    assert settings.simulation.samples_per_pair == 1000
    assert settings.simulation.retention_days == 7
    assert settings.port == 5000
    assert (settings.monitoring.window, settings.monitoring.baseline) == (timedelta(hours=24), timedelta(hours=72))


def test_durations_are_set_in_whole_hours_or_minutes_as_their_names_say():
    given = Settings.from_env(
        {"MONITOR_WINDOW_HOURS": "6", "MONITOR_BASELINE_HOURS": "48", "RUN_STALE_AFTER_MINUTES": "30"}
    )
    assert (given.monitoring.window, given.monitoring.baseline) == (timedelta(hours=6), timedelta(hours=48))
    assert given.simulation.stale_after == timedelta(minutes=30)
    assert Settings.from_env({}).simulation.stale_after == timedelta(hours=1)
    with pytest.raises(ConfigurationError, match="MONITOR_WINDOW_HOURS must be at least 1, got 0"):
        Settings.from_env({"MONITOR_WINDOW_HOURS": "0"})


def test_postgres_urls_use_the_psycopg2_driver():
    for url in ("postgres://u:p@db/jounce", "postgresql://u:p@db/jounce"):
        assert Settings.from_env({"DATABASE_URL": url}).database_url == "postgresql+psycopg2://u:p@db/jounce"


@pytest.mark.parametrize(
    "environ, complaint",
    [
        ({"DATABASE_URL": "postgresql://db/jounce"}, "SECRET_KEY"),
        ({"DATABASE_URL": "postgresql://db/jounce", "SECRET_KEY": DEV_SECRET_KEY}, "SECRET_KEY"),
        ({"DATABASE_URL": "postgresql://db/jounce", "SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"SECRET_KEY": "x" * 40}, "DATABASE_URL"),
    ],
)
def test_production_refuses_to_start_without_real_secrets(environ, complaint):
    with pytest.raises(ConfigurationError, match=complaint):
        Settings.from_env({"JOUNCE_ENV": "production", **environ})


def test_production_starts_with_a_real_secret_and_database():
    settings = Settings.from_env(
        {"JOUNCE_ENV": "Production", "SECRET_KEY": "k" * 48, "DATABASE_URL": "postgresql://db/j"}
    )
    assert settings.is_production


@pytest.mark.parametrize(
    "name, value", [("PORT", "http"), ("SIMULATION_SAMPLES_PER_PAIR", "1"), ("CACHE_TIMEOUT", "-3")]
)
def test_malformed_numbers_are_refused_with_the_variable_named(name, value):
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env({name: value})


def test_schedules_are_cron_expressions_or_intervals():
    every_five = parse_schedule("*/5 * * * *")
    assert every_five.minute == set(range(0, 60, 5)) and every_five.hour == set(range(24))
    assert parse_schedule("300").run_every.total_seconds() == 300
    for bad in ("10", "every five minutes", "61 * * * *"):
        with pytest.raises(ConfigurationError, match="SIMULATION_SCHEDULE"):
            parse_schedule(bad)


def test_measurement_schedules_come_from_the_environment_each_a_beat_entry():
    from flask import Flask

    from src.infrastructure.celery_app import create_celery

    listed = [{"name": "providers", "endpoints": ["openai", "azure"], "schedule": "0 */4 * * *",
               "jitter_seconds": 600, "plan": {"requests": 30, "concurrency": 2}},
              {"name": "vllm", "endpoints": ["vllm"], "schedule": "3600"}]  # fmt: skip
    environ = {"MEASUREMENT_SCHEDULES": json.dumps(listed), "BENCHMARK_SCHEDULE": "0 * * * *",
               "BENCHMARK_ENDPOINTS": "gpt-4o, haiku", "BENCHMARK_REQUESTS": "30"}  # fmt: skip
    providers, vllm, legacy = Settings.from_env(environ).measurement_schedules
    assert providers == MeasurementSchedule("providers", ("openai", "azure"), "0 */4 * * *",
                                            {"requests": 30, "concurrency": 2}, 600.0, together=True)  # fmt: skip
    assert vllm.plan == {"requests": 20} and vllm.jitter_s == 0.0
    assert legacy == MeasurementSchedule("benchmarks", ("gpt-4o", "haiku"), "0 * * * *", {"requests": 30},
                                         together=False)  # fmt: skip
    beat = create_celery(Flask(__name__), Settings.from_env(environ)).conf.beat_schedule
    assert {name: entry["args"] for name, entry in beat.items() if name.startswith("measure:")} == {
        "measure:providers": ("providers",), "measure:vllm": ("vllm",), "measure:benchmarks": ("benchmarks",)
    }  # fmt: skip
    assert all(entry["task"] == "jounce.scheduled_measurement" for name, entry in beat.items() if ":" in name)
    assert not any(":" in name for name in create_celery(Flask(__name__), Settings.from_env({})).conf.beat_schedule)


@pytest.mark.parametrize(
    ("listed", "message"),
    [
        ('{"name": "a"}', "MEASUREMENT_SCHEDULES must be a JSON list of objects"),
        ('[{"name": "a", "endpoints": ["x"], "schedule": "60", "every": 2}]', "unknown field 'every'"),
        ('[{"name": "a", "endpoints": [], "schedule": "60"}]', "the number of endpoints must be between 1 and 100"),
        (
            '[{"name": "a", "endpoints": ["x"], "schedule": "60", "jitter_seconds": 7200}]',
            "jitter_seconds must be between 0 and 3600",
        ),
        ('[{"name": "a", "endpoints": ["x"], "schedule": "soon"}]', "schedule 'a' must be seconds or a five-field"),
        (
            '[{"name": "a", "endpoints": ["x"], "schedule": "60", "plan": {"requests": 0}}]',
            "schedule 'a', its plan: requests must be between 1 and 10000",
        ),
        (
            '[{"name": "a", "endpoints": ["x"], "schedule": "60"}, {"name": "a", "endpoints": ["y"], '
            '"schedule": "60"}]',
            "two schedules have one name",
        ),
    ],
)
def test_a_bad_measurement_schedule_stops_the_start_naming_the_problem(listed, message):
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        Settings.from_env({"MEASUREMENT_SCHEDULES": listed})


def test_the_scheduled_plan_takes_every_field_a_posted_one_does_and_a_bad_one_stops_the_start():
    plan = '{"requests": 40, "concurrency": 4, "slo": {"ttft_ms": 1000}, "workload": {"input_tokens": 256}}'
    settings = Settings.from_env({"BENCHMARK_PLAN": plan, "BENCHMARK_SCHEDULE": "60", "BENCHMARK_ENDPOINTS": "x"})
    assert settings.measurement_schedules[0].plan == {"requests": 40, "concurrency": 4, "slo": {"ttft_ms": 1000},
                                                      "workload": {"input_tokens": 256}}  # fmt: skip
    for bad, message in (
        ("[1]", "BENCHMARK_PLAN must be a JSON object"),
        ('{"concurrency": 5000}', "schedule 'benchmarks', its plan: concurrency must be between 1 and 1000, got 5000"),
        ('{"speed": 2}', "schedule 'benchmarks', its plan: unknown plan field 'speed'"),
        ('{"slo": {"ttft": 1}}', "schedule 'benchmarks', its plan: the plan does not fit"),
        ('{"requests": 10, "rate": 0.001}', "take about 10,000 s"),
    ):
        with pytest.raises(ConfigurationError, match=re.escape(message)):
            Settings.from_env({"BENCHMARK_PLAN": bad, "BENCHMARK_SCHEDULE": "60", "BENCHMARK_ENDPOINTS": "x"})


def test_the_client_limits_of_measured_runs_come_from_the_environment():
    from src.application.services.measures import ClientLimits

    assert Settings.from_env({}).benchmark.client_limits == ClientLimits(loop_lag_ms=20.0, cpu_share=0.9)
    given = {"BENCHMARK_MAX_LOOP_LAG_MS": "50", "BENCHMARK_MAX_CLIENT_CPU_PERCENT": "75"}
    assert Settings.from_env(given).benchmark.client_limits == ClientLimits(loop_lag_ms=50.0, cpu_share=0.75)
    with pytest.raises(ConfigurationError, match="BENCHMARK_MAX_LOOP_LAG_MS must be at least 1, got 0"):
        Settings.from_env({"BENCHMARK_MAX_LOOP_LAG_MS": "0"})


def test_endpoints_may_be_on_loopback_locally_only_on_networks_production_allows_and_take_keys_from_listed_names():
    from src.application.services.addresses import networks

    assert Settings.from_env({}).benchmark.allowed_networks == networks(["127.0.0.0/8", "::1/128"])
    production = {"JOUNCE_ENV": "production", "SECRET_KEY": "s" * 40, "DATABASE_URL": "postgresql://db/x"}
    assert Settings.from_env(production).benchmark.allowed_networks == ()
    given = Settings.from_env({"ENDPOINT_ALLOWED_NETWORKS": "10.0.0.0/8, fd00::/8"}).benchmark.allowed_networks
    assert given == networks(["10.0.0.0/8", "fd00::/8"])
    with pytest.raises(ConfigurationError, match="ENDPOINT_ALLOWED_NETWORKS must be networks"):
        Settings.from_env({"ENDPOINT_ALLOWED_NETWORKS": "10.0.0.0/33"})
    assert Settings.from_env({}).benchmark.key_variables is None  # any NAME_API_KEY but API_KEY
    listed = Settings.from_env({"ENDPOINT_KEY_VARIABLES": "OPENAI_API_KEY, VLLM_TOKEN"}).benchmark.key_variables
    assert listed == ("OPENAI_API_KEY", "VLLM_TOKEN")
