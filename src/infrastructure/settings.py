"""12-factor settings: read once from the environment, with embedded defaults for local use."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from limits import RateLimitItem, parse_many

from src.adapters.web.limits import RateLimits
from src.application.domain.errors import InvalidParameter
from src.application.services.addresses import Network, networks
from src.application.services.measures import ClientLimits
from src.application.use_cases.benchmarks import BenchmarkSettings, plan_from
from src.application.use_cases.monitoring import MonitorSettings
from src.application.use_cases.quotas import Quotas
from src.application.use_cases.schedules import MeasurementSchedule
from src.application.use_cases.simulation import SimulationSettings
from src.infrastructure.database import DatabaseTimeouts
from src.infrastructure.errors import ConfigurationError
from src.infrastructure.schedule import parse_schedule

# The value production refuses to start with.
DEV_SECRET_KEY = "dev-insecure-secret-key"  # noqa: S105  # nosec B105
PRODUCTION = "production"


@dataclass(frozen=True)
class Settings:
    env: str
    secret_key: str
    database_url: str
    database_timeouts: DatabaseTimeouts
    cache_redis_url: str | None
    cache_key_prefix: str
    celery_broker_url: str | None
    celery_result_backend: str | None
    celery_queue: str
    celery_benchmark_queue: str
    celery_visibility_timeout: int
    bootstrap_api_key: str | None
    simulation_schedule: str
    measurement_schedules: tuple[MeasurementSchedule, ...]
    run_scheduler_in_process: bool
    cache_timeout: int
    rate_limits: RateLimits
    proxy_hops: int
    port: int
    log_level: str
    log_json: bool
    worker_metrics_port: int | None
    metrics_token: str | None
    quotas: Quotas
    simulation: SimulationSettings
    benchmark: BenchmarkSettings
    monitoring: MonitorSettings

    @property
    def is_production(self) -> bool:
        return self.env == PRODUCTION

    @property
    def uses_celery(self) -> bool:
        return self.celery_broker_url is not None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, instance_path: Path | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        instance = instance_path or Path.cwd() / "instance"
        settings = cls(
            env=env.get("JOUNCE_ENV", "local").strip().lower(),
            secret_key=env.get("SECRET_KEY") or DEV_SECRET_KEY,
            database_url=_database_url(env.get("DATABASE_URL"), instance),
            database_timeouts=DatabaseTimeouts(
                request_seconds=float(_integer(env, "DATABASE_REQUEST_TIMEOUT_SECONDS", 5, minimum=1)),
                statement_seconds=_integer(env, "DATABASE_STATEMENT_TIMEOUT_SECONDS", 30, minimum=1),
            ),
            cache_redis_url=env.get("CACHE_REDIS_URL") or None,
            cache_key_prefix=env.get("CACHE_KEY_PREFIX", "jounce:"),
            celery_broker_url=env.get("CELERY_BROKER_URL") or None,
            # Chords (a run split across workers) need one: by default the cache's Redis.
            celery_result_backend=env.get("CELERY_RESULT_BACKEND") or env.get("CACHE_REDIS_URL") or None,
            celery_queue=env.get("CELERY_QUEUE", "jounce"),
            celery_benchmark_queue=env.get("CELERY_BENCHMARK_QUEUE", "jounce-benchmarks"),
            celery_visibility_timeout=_integer(env, "CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1),
            bootstrap_api_key=env.get("API_KEY") or None,
            simulation_schedule=env.get("SIMULATION_SCHEDULE", "*/5 * * * *"),
            measurement_schedules=_measurement_schedules(env),
            run_scheduler_in_process=_flag(env.get("RUN_SCHEDULER_IN_PROCESS", "false")),
            cache_timeout=_integer(env, "CACHE_TIMEOUT", 300, minimum=1),
            rate_limits=RateLimits(
                api=_rate(env, "RATE_LIMIT", "600/minute"),
                login_per_account=_rate(env, "LOGIN_RATE_LIMIT_ACCOUNT", "5/minute"),
                login_per_address=_rate(env, "LOGIN_RATE_LIMIT_ADDRESS", "20/minute"),
                register_per_address=_rate(env, "REGISTER_RATE_LIMIT", "5/hour"),
                invalid_keys_per_address=_rate(env, "INVALID_KEY_RATE_LIMIT", "20/minute"),
            ),
            proxy_hops=_integer(env, "PROXY_HOPS", 0, minimum=0),
            port=_integer(env, "PORT", 5000, minimum=1),
            log_level=env.get("LOG_LEVEL", "info").upper(),
            log_json=env.get("LOG_FORMAT", "json").strip().lower() == "json",
            worker_metrics_port=_optional_integer(env, "WORKER_METRICS_PORT", minimum=1),
            metrics_token=env.get("METRICS_TOKEN") or None,
            quotas=Quotas(
                queued_runs=_integer(env, "QUOTA_QUEUED_RUNS", Quotas.queued_runs, minimum=0),
                samples_per_day=_integer(env, "QUOTA_SAMPLES_PER_DAY", Quotas.samples_per_day, minimum=0),
                benchmark_requests_per_day=_integer(
                    env, "QUOTA_BENCHMARK_REQUESTS_PER_DAY", Quotas.benchmark_requests_per_day, minimum=0
                ),
                benchmark_tokens_per_day=_integer(
                    env, "QUOTA_BENCHMARK_TOKENS_PER_DAY", Quotas.benchmark_tokens_per_day, minimum=0
                ),
            ),
            benchmark=_benchmark_settings(env),
            simulation=_simulation_settings(env),
            monitoring=MonitorSettings(
                window=_duration(env, "MONITOR_WINDOW_HOURS", MonitorSettings.window, timedelta(hours=1)),
                baseline=_duration(env, "MONITOR_BASELINE_HOURS", MonitorSettings.baseline, timedelta(hours=1)),
            ),
        )
        settings._refuse_unsafe_production(env)
        for scheduled in settings.measurement_schedules:
            parse_schedule(scheduled.schedule, f"schedule {scheduled.name!r}")
            try:
                plan_from(scheduled.plan, settings.benchmark)
            except InvalidParameter as error:
                raise ConfigurationError(f"schedule {scheduled.name!r}, its plan: {error}") from None
        return settings

    def _refuse_unsafe_production(self, env: Mapping[str, str]) -> None:
        if not self.is_production:
            return
        problems = []
        if not env.get("SECRET_KEY") or self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 32:
            problems.append("SECRET_KEY must be set to a random value of at least 32 characters")
        if not env.get("DATABASE_URL"):
            problems.append("DATABASE_URL must be set")
        if problems:
            raise ConfigurationError("JOUNCE_ENV=production refuses to start: " + "; ".join(problems))


def _database_url(url: str | None, instance: Path) -> str:
    if not url:
        return f"sqlite:///{instance / 'jounce.db'}"
    # The driver is psycopg2 (its COPY writes the samples). SQLAlchemy 2.1 would pick psycopg 3
    # for a bare "postgresql://", and no longer accepts Heroku-style "postgres://".
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url.removeprefix(scheme)
    return url


def _rate(env: Mapping[str, str], name: str, default: str) -> tuple[RateLimitItem, ...]:
    """A rate of the `limits` library such as "600/minute" or "10 per second;1000/hour"."""
    value = env.get(name) or default
    try:
        return tuple(parse_many(value))
    except ValueError:
        raise ConfigurationError(f"{name} must be a rate such as 600/minute, got {value!r}") from None


def _networks(env: Mapping[str, str]) -> tuple[Network, ...]:
    """ENDPOINT_ALLOWED_NETWORKS; unset, loopback (a local server) except in production."""
    default = "" if env.get("JOUNCE_ENV") == PRODUCTION else "127.0.0.0/8,::1/128"
    raw = env.get("ENDPOINT_ALLOWED_NETWORKS", default)
    try:
        return networks(raw.split(","))
    except ValueError as error:
        raise ConfigurationError(f"ENDPOINT_ALLOWED_NETWORKS must be networks such as 10.0.0.0/8: {error}") from None


def _names(raw: str | None) -> tuple[str, ...] | None:
    return None if raw is None else tuple(name.strip() for name in raw.split(",") if name.strip())


def _json_object(env: Mapping[str, str], name: str) -> dict[str, Any]:
    raw = env.get(name, "").strip()
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        raise ConfigurationError(f"{name} must be a JSON object, got {raw[:50]!r}") from None
    if not isinstance(value, dict):
        raise ConfigurationError(f"{name} must be a JSON object, got {raw[:50]!r}")
    return value


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


SCHEDULE_FIELDS = ("name", "endpoints", "schedule", "plan", "jitter_seconds", "together")


def _measurement_schedules(env: Mapping[str, str]) -> tuple[MeasurementSchedule, ...]:
    """MEASUREMENT_SCHEDULES, a JSON list of {name, endpoints, schedule, plan, jitter_seconds,
    together}; and BENCHMARK_SCHEDULE with BENCHMARK_ENDPOINTS and BENCHMARK_PLAN, a run of each
    endpoint, as the schedule named "benchmarks"."""
    raw = env.get("MEASUREMENT_SCHEDULES", "").strip()
    try:
        listed = json.loads(raw) if raw else []
    except ValueError:
        listed = None
    if not isinstance(listed, list) or not all(isinstance(item, dict) for item in listed):
        raise ConfigurationError("MEASUREMENT_SCHEDULES must be a JSON list of objects")
    schedules = []
    for item in listed:
        if unknown := sorted(set(item) - set(SCHEDULE_FIELDS)):
            raise ConfigurationError(f"MEASUREMENT_SCHEDULES: unknown field {unknown[0]!r}; fields: "
                                     f"{', '.join(SCHEDULE_FIELDS)}")  # fmt: skip
        try:
            schedules.append(MeasurementSchedule(
                name=str(item.get("name", "")), endpoints=tuple(item.get("endpoints") or ()),
                schedule=str(item.get("schedule", "")), plan=dict(item.get("plan") or {"requests": 20}),
                jitter_s=float(item.get("jitter_seconds", 0)), together=bool(item.get("together", True)),
            ))  # fmt: skip
        except (InvalidParameter, TypeError, ValueError) as error:
            raise ConfigurationError(f"MEASUREMENT_SCHEDULES: {error}") from None
    endpoints = tuple(n.strip() for n in env.get("BENCHMARK_ENDPOINTS", "").split(",") if n.strip())
    if env.get("BENCHMARK_SCHEDULE") and endpoints:
        plan = {"requests": _integer(env, "BENCHMARK_REQUESTS", 20, minimum=1)} | _json_object(env, "BENCHMARK_PLAN")
        schedules.append(MeasurementSchedule("benchmarks", endpoints, env["BENCHMARK_SCHEDULE"], plan, together=False))
    else:
        _json_object(env, "BENCHMARK_PLAN")  # checked even when unused: a typo should not wait for the schedule
    if len({s.name for s in schedules}) < len(schedules):
        raise ConfigurationError("MEASUREMENT_SCHEDULES: two schedules have one name")
    return tuple(schedules)


def _integer(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    value = _optional_integer(env, name, minimum)
    return default if value is None else value


def _duration(env: Mapping[str, str], name: str, default: timedelta, unit: timedelta) -> timedelta:
    """A whole number of `unit`s, at least one."""
    count = _optional_integer(env, name, minimum=1)
    return default if count is None else count * unit


def _optional_integer(env: Mapping[str, str], name: str, minimum: int) -> int | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value


def _benchmark_settings(env: Mapping[str, str]) -> BenchmarkSettings:
    default, limits = BenchmarkSettings, ClientLimits  # their defaults are the variables' defaults
    return BenchmarkSettings(
        max_tokens=_integer(env, "BENCHMARK_MAX_TOKENS", default.max_tokens, minimum=1),
        timeout_s=float(_integer(env, "BENCHMARK_TIMEOUT_SECONDS", int(default.timeout_s), minimum=1)),
        warmup=_integer(env, "BENCHMARK_WARMUP_REQUESTS", default.warmup, minimum=0),
        max_duration_s=float(_integer(env, "BENCHMARK_MAX_DURATION_SECONDS", int(default.max_duration_s), minimum=1)),
        client_limits=ClientLimits(
            loop_lag_ms=float(_integer(env, "BENCHMARK_MAX_LOOP_LAG_MS", int(limits.loop_lag_ms), minimum=1)),
            cpu_share=_integer(env, "BENCHMARK_MAX_CLIENT_CPU_PERCENT", round(limits.cpu_share * 100), minimum=1) / 100,
        ),
        streams_per_worker=_integer(env, "BENCHMARK_STREAMS_PER_WORKER", default.streams_per_worker, minimum=1),
        allowed_networks=_networks(env),
        key_variables=_names(env.get("ENDPOINT_KEY_VARIABLES")),
        shard_start_delay_s=float(
            _integer(env, "BENCHMARK_SHARD_START_DELAY_SECONDS", int(default.shard_start_delay_s), minimum=0)
        ),
    )


def _simulation_settings(env: Mapping[str, str]) -> SimulationSettings:
    default = SimulationSettings
    return SimulationSettings(
        samples_per_pair=_integer(env, "SIMULATION_SAMPLES_PER_PAIR", default.samples_per_pair, minimum=2),
        concurrency=_integer(env, "SIMULATION_CONCURRENCY", default.concurrency, minimum=1),
        chunk_size=_integer(env, "SIMULATION_CHUNK_SIZE", default.chunk_size, minimum=1),
        fixed_seed=_optional_integer(env, "SIMULATION_SEED", minimum=0),
        retention_days=_integer(env, "SAMPLE_RETENTION_DAYS", default.retention_days, minimum=1),
        stale_after=_duration(env, "RUN_STALE_AFTER_MINUTES", default.stale_after, timedelta(minutes=1)),
    )
