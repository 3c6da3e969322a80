"""Initial schema: catalogue, runs, summaries, raw samples (partitioned by day on PostgreSQL),
users and API keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _enum(*values: str) -> sa.Enum:
    return sa.Enum(*values, native_enum=False, length=16, create_constraint=False)


def upgrade() -> None:
    op.create_table(
        "llms",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("vendor", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_llms"),
        sa.UniqueConstraint("name", name="uq_llms_name"),
    )
    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("unit", sa.String(50), nullable=False),
        sa.Column("direction", _enum("lower", "higher"), nullable=False),
        sa.Column("lower_bound", sa.Float(), nullable=False),
        sa.Column("upper_bound", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_metrics"),
        sa.UniqueConstraint("name", name="uq_metrics_name"),
    )
    op.create_table(
        "simulation_runs",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("samples_per_pair", sa.Integer(), nullable=False),
        sa.Column("source", _enum("simulated", "measured"), nullable=False),
        sa.Column("status", _enum("queued", "running", "completed", "failed"), nullable=False),
        sa.Column("slot", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("sample_count", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_simulation_runs"),
        sa.UniqueConstraint("slot", name="uq_simulation_runs_slot"),
    )
    op.create_index("ix_simulation_runs_status_finished_at", "simulation_runs", ["status", "finished_at"])
    op.create_table(
        "metric_summaries",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("llm_id", sa.Integer(), nullable=False),
        sa.Column("metric_id", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Float(), nullable=False) for name in ("mean", "std", "minimum", "maximum")),
        *(sa.Column(name, sa.Float(), nullable=False) for name in ("p50", "p90", "p95", "p99")),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("sketch", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "llm_id", "metric_id", name="pk_metric_summaries"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["simulation_runs.id"],
            name="fk_metric_summaries_run_id_simulation_runs",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["llm_id"], ["llms.id"], name="fk_metric_summaries_llm_id_llms"),
        sa.ForeignKeyConstraint(["metric_id"], ["metrics.id"], name="fk_metric_summaries_metric_id_metrics"),
    )
    # Raw samples: a row per chunk of one (run, LLM, metric) pair, its values in one array.
    if op.get_bind().dialect.name == "postgresql":
        # One partition a day, created by the sample writer; retention drops whole partitions.
        op.execute(
            "CREATE TABLE samples (run_id integer NOT NULL, llm_id smallint NOT NULL,"
            " metric_id smallint NOT NULL, chunk integer NOT NULL, recorded_on date NOT NULL,"
            " n integer NOT NULL, sample_values double precision[] NOT NULL)"
            " PARTITION BY RANGE (recorded_on)"
        )
        # Random doubles do not compress: skipping the attempt halves the time a run takes to store.
        op.execute("ALTER TABLE samples ALTER COLUMN sample_values SET STORAGE EXTERNAL")
    else:
        op.create_table(
            "samples",
            sa.Column("run_id", sa.Integer(), nullable=False),
            sa.Column("llm_id", sa.SmallInteger(), nullable=False),
            sa.Column("metric_id", sa.SmallInteger(), nullable=False),
            sa.Column("chunk", sa.Integer(), nullable=False),
            sa.Column("recorded_on", sa.Date(), nullable=False),
            sa.Column("n", sa.Integer(), nullable=False),
            sa.Column("sample_values", sa.LargeBinary(), nullable=False),
        )
        op.create_index("ix_samples_recorded_on", "samples", ["recorded_on"])
    op.create_index("ix_samples_pair", "samples", ["run_id", "llm_id", "metric_id", "chunk"])
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("user_id", sa.Integer()),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_api_keys_user_id_users", ondelete="CASCADE"),
    )


def downgrade() -> None:
    for table in ("api_keys", "users", "samples", "metric_summaries", "simulation_runs", "metrics", "llms"):
        op.drop_table(table)
