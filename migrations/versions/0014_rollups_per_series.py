"""Rollups per series: measured runs' totals are kept per endpoint and plan (simulated runs' as one
series, endpoint 0 and plan ""), so that a measured window reads two rows per endpoint and metric
as a simulated one does, instead of every run's summaries. Run counts also keep when the runs they
count finished first and last, and the id of the last to finish.

Rollups are derived data: both tables are made afresh, and revision 0015 rebuilds them from the
valid completed runs (`adapters.persistence.rollups.rebuild` writes the newest shape only, so
neither this revision nor 0005 and 0012 call it). Downgrading leaves the older tables empty:
rebuild them with the older code.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None
SERIES = ("source", "endpoint_id", "plan_key")


def upgrade() -> None:
    op.drop_table("run_counts")
    op.drop_table("rollups")
    create_tables(
        [sa.Column("endpoint_id", sa.Integer, nullable=False), sa.Column("plan_key", sa.String(12), nullable=False)],
        [
            sa.Column("first_finished", sa.DateTime(timezone=True), nullable=False),
            sa.Column("last_finished", sa.DateTime(timezone=True), nullable=False),
            sa.Column("last_run_id", sa.Integer, nullable=False),
        ],
        SERIES,
    )
    op.create_index("ix_rollups_series_hour", "rollups", [*SERIES, "hour"])
    op.create_index("ix_run_counts_source_hour", "run_counts", ["source", "hour"])


def downgrade() -> None:
    op.drop_table("run_counts")
    op.drop_table("rollups")
    create_tables([], [], ("source",))
    op.create_index("ix_rollups_source_hour", "rollups", ["source", "hour"])


def create_tables(series: list[sa.Column], counted: list[sa.Column], key: tuple[str, ...]) -> None:
    op.create_table(
        "rollups",
        sa.Column("source", sa.String(16), nullable=False),
        *series,
        sa.Column("llm_id", sa.Integer, sa.ForeignKey("llms.id", name="fk_rollups_llm_id_llms"), nullable=False),
        sa.Column(
            "metric_id", sa.Integer, sa.ForeignKey("metrics.id", name="fk_rollups_metric_id_metrics"), nullable=False
        ),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("runs", sa.Integer, nullable=False),
        sa.Column("last_run_id", sa.Integer, nullable=False),
        sa.Column("mean", sa.Float, nullable=False),
        sa.Column("m2", sa.Float, nullable=False),
        sa.Column("size_squares", sa.BigInteger, nullable=False),
        sa.Column("run_mean", sa.Float, nullable=False),
        sa.Column("run_m2", sa.Float, nullable=False),
        sa.Column("buckets", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint(*key, "llm_id", "metric_id", "hour", name="pk_rollups"),
    )
    op.create_table(
        "run_counts",
        sa.Column("source", sa.String(16), nullable=False),
        *[sa.Column(c.name, c.type, nullable=False) for c in series],
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("runs", sa.Integer, nullable=False),
        *counted,
        sa.PrimaryKeyConstraint(*key, "hour", name="pk_run_counts"),
    )
