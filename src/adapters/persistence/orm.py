"""Tables, and their imperative mapping onto the domain dataclasses (the domain knows no ORM)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    true,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import registry
from sqlalchemy.types import TypeEngine

from src.application.domain.model import (
    LLM,
    ApiKey,
    Campaign,
    Direction,
    Endpoint,
    Interval,
    MaxTokensField,
    Metric,
    MetricSummary,
    Role,
    Run,
    RunSource,
    RunStatus,
    Sweep,
    SweepLoad,
    User,
)
from src.application.domain.sketch import QuantileSketch


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every database (SQLite stores no zone, PostgreSQL does)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class SketchType(TypeDecorator[QuantileSketch]):
    """A QuantileSketch, stored as its compact bytes."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: QuantileSketch | None, dialect: Dialect) -> bytes | None:
        return value.to_bytes() if value is not None else None

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> QuantileSketch | None:
        return QuantileSketch.from_bytes(bytes(value)) if value is not None else None


class IntervalsType(TypeDecorator[dict[str, Interval]]):
    """A summary's intervals as JSON: {"p95": [low, high]}, null for an open bound."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: dict[str, Interval] | None, dialect: Dialect) -> object:
        return {name: [i.low, i.high] for name, i in value.items()} if value is not None else None

    def process_result_value(self, value: object, dialect: Dialect) -> dict[str, Interval] | None:
        if not isinstance(value, dict):
            return None
        return {name: Interval(low, high) for name, (low, high) in value.items()}


def _values(enum_class: type, length: int = 16) -> Enum:
    return Enum(enum_class, native_enum=False, values_callable=lambda e: [m.value for m in e], length=length)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

llms = Table(
    "llms",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("vendor", String(100), nullable=False),
    Column("family", String(100)),
    Column("size", String(40)),
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(50), nullable=False, unique=True),
    Column("description", String(200), nullable=False),
    Column("unit", String(50), nullable=False),
    Column("direction", _values(Direction), nullable=False),
    Column("lower_bound", Float, nullable=False),
    Column("upper_bound", Float, nullable=False),
)

# Runs of both kinds: the table keeps the name it had when every run was simulated.
simulation_runs = Table(
    "simulation_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("seed", BigInteger, nullable=False),
    Column("samples_per_pair", Integer),  # simulated runs only
    Column("source", _values(RunSource), nullable=False),
    Column("status", _values(RunStatus), nullable=False),
    Column("slot", String(64), unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime),
    Column("finished_at", UtcDateTime),
    Column("sample_count", BigInteger, nullable=False, default=0),
    Column("error", Text),
    Column("endpoint_id", Integer, ForeignKey("endpoints.id")),
    Column("details", JSON),
    Column("requested_by", String(40)),
    Column("invalid", Text),  # see Run.invalid
    Column("sweep_id", Integer, ForeignKey("sweeps.id", ondelete="CASCADE"), index=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="CASCADE"), index=True),
    Index("ix_simulation_runs_status_source_finished_at", "status", "source", "finished_at", "id"),
    Index("ix_simulation_runs_requested_by_created_at", "requested_by", "created_at"),
    Index("ix_simulation_runs_endpoint_id_finished_at", "endpoint_id", "finished_at", "id"),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("requested_by", String(40)),
)

sweeps = Table(
    "sweeps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("endpoint_id", Integer, ForeignKey("endpoints.id"), nullable=False),
    Column("load", _values(SweepLoad), nullable=False),
    Column("loads", JSON, nullable=False),
    Column("plan", JSON, nullable=False),
    Column("min_gain", Float, nullable=False),
    Column("max_error_rate", Float, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("requested_by", String(40)),
    Column("status", _values(RunStatus), nullable=False),
    Column("finished_at", UtcDateTime),
    Column("stop_reason", Text),
)

endpoints = Table(
    "endpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("llm_id", Integer, ForeignKey("llms.id"), nullable=False),
    Column("base_url", String(500), nullable=False),
    Column("model", String(200), nullable=False),
    Column("api_key_env", String(100)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("max_tokens_field", _values(MaxTokensField, length=24), nullable=False, server_default="max_tokens"),
    Column("stream_usage", Boolean, nullable=False, server_default=true()),
)

metric_summaries = Table(
    "metric_summaries",
    metadata,
    Column("run_id", Integer, ForeignKey("simulation_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("llm_id", Integer, ForeignKey("llms.id"), primary_key=True),
    Column("metric_id", Integer, ForeignKey("metrics.id"), primary_key=True),
    Column("n", Integer, nullable=False),
    Column("mean", Float, nullable=False),
    Column("std", Float, nullable=False),
    Column("minimum", Float, nullable=False),
    Column("maximum", Float, nullable=False),
    Column("p50", Float, nullable=False),
    Column("p90", Float, nullable=False),
    Column("p95", Float, nullable=False),
    Column("p99", Float, nullable=False),
    Column("sketch", SketchType, nullable=False),
    Column("intervals", IntervalsType, nullable=False),
)


# Each pair's running totals at the end of every hour a run of its series finished in, from the
# pair's first run on (domain/rollup.py): a window is the rows at the series' newest run hour less
# those at its last run hour before the window. A series is simulated runs (endpoint 0, plan ""),
# or one endpoint's measured runs of one plan. The key serves writes and reads.
rollups = Table(
    "rollups",
    metadata,
    Column("source", _values(RunSource), primary_key=True),
    Column("endpoint_id", Integer, primary_key=True),
    Column("plan_key", String(12), primary_key=True),
    Column("llm_id", Integer, ForeignKey("llms.id"), primary_key=True),
    Column("metric_id", Integer, ForeignKey("metrics.id"), primary_key=True),
    Column("hour", UtcDateTime, primary_key=True),
    Column("runs", Integer, nullable=False),
    Column("last_run_id", Integer, nullable=False),
    Column("mean", Float, nullable=False),
    Column("m2", Float, nullable=False),
    Column("size_squares", BigInteger, nullable=False),
    Column("run_mean", Float, nullable=False),
    Column("run_m2", Float, nullable=False),
    Column("run_log_median_mean", Float, nullable=False, server_default="0"),  # as migration 0015 adds them
    Column("run_log_median_m2", Float, nullable=False, server_default="0"),
    Column("buckets", LargeBinary, nullable=False),  # see adapters/persistence/rollups.py
    Index("ix_rollups_series_hour", "source", "endpoint_id", "plan_key", "hour"),
)

# How many runs of each series completed up to the end of each hour one did (a window's count is
# the newest less the last before it, like its rollups), when the runs counted here and not in the
# series' row before finished first and last, and the id of the last to finish.
run_counts = Table(
    "run_counts",
    metadata,
    Column("source", _values(RunSource), primary_key=True),
    Column("endpoint_id", Integer, primary_key=True),
    Column("plan_key", String(12), primary_key=True),
    Column("hour", UtcDateTime, primary_key=True),
    Column("runs", Integer, nullable=False),
    Column("first_finished", UtcDateTime, nullable=False),
    Column("last_finished", UtcDateTime, nullable=False),
    Column("last_run_id", Integer, nullable=False),
    Index("ix_run_counts_source_hour", "source", "hour"),  # a window's rows, of every series
)


class FloatArray(TypeDecorator[np.ndarray]):
    """A numpy float64 array: float8[] on PostgreSQL, a little-endian BLOB elsewhere."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[object]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(Float))
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: np.ndarray | None, dialect: Dialect) -> object:
        if value is None:
            return None
        array = np.asarray(value, dtype="<f8")
        return array.tolist() if dialect.name == "postgresql" else array.tobytes()

    def process_result_value(self, value: object, dialect: Dialect) -> np.ndarray | None:
        if value is None:
            return None
        if isinstance(value, (bytes, memoryview)):
            return np.frombuffer(value, dtype="<f8").astype(np.float64)
        return np.asarray(value, dtype=np.float64)


# Raw samples, a row per chunk of one pair (see adapters/persistence/samples.py). Written in
# bulk and append-only, so no foreign keys slow the writes.
samples = Table(
    "samples",
    metadata,
    Column("run_id", Integer, nullable=False),
    Column("llm_id", SmallInteger, nullable=False),
    Column("metric_id", SmallInteger, nullable=False),
    Column("chunk", Integer, nullable=False),
    Column("recorded_on", Date, nullable=False),
    Column("n", Integer, nullable=False),
    Column("sample_values", FloatArray, nullable=False),
)

# Each measured run's requests as they happened: one row a run, its records as zlib-compressed
# JSON Lines (see adapters/persistence/timelines.py), removed with the raw samples of their day.
request_timelines = Table(
    "request_timelines",
    metadata,
    Column("run_id", Integer, ForeignKey("simulation_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("recorded_on", Date, nullable=False, index=True),
    Column("requests", Integer, nullable=False),
    Column("records", LargeBinary, nullable=False),
)

# Given prompts (a JSONL file's), kept once by the SHA-256 of their JSON list: the plans of the runs
# that send them name them by it (services/plans.py prompts_digest).
prompt_sets = Table(
    "prompt_sets",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("prompts", JSON, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("role", _values(Role), nullable=False, default=Role.READER),
    Column("session_generation", Integer, nullable=False, default=0),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE")),
    Column("name", String(100), nullable=False),
    Column("prefix", String(32), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("role", _values(Role), nullable=False, default=Role.READER),
    Column("last_used_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
)

mapper_registry = registry(metadata=metadata)


def start_mappers() -> None:
    """Map the domain classes once per process (mapping twice is an error SQLAlchemy raises)."""
    if mapper_registry.mappers:
        return
    mapper_registry.map_imperatively(LLM, llms)
    mapper_registry.map_imperatively(Metric, metrics)
    mapper_registry.map_imperatively(Run, simulation_runs)
    mapper_registry.map_imperatively(Sweep, sweeps)
    mapper_registry.map_imperatively(Campaign, campaigns)
    mapper_registry.map_imperatively(MetricSummary, metric_summaries)
    mapper_registry.map_imperatively(User, users)
    mapper_registry.map_imperatively(Endpoint, endpoints)
    mapper_registry.map_imperatively(ApiKey, api_keys)
