"""Hourly rollups: each pair's running totals and each source's run count, so that a window reads
two rows per pair.

The tables were filled here from the completed runs' summaries; revision 0014 reshapes them and
fills them (`adapters.persistence.rollups.rebuild`); from then on each run is counted as it
completes. Downgrading drops them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollups",
        sa.Column("source", sa.String(16), nullable=False),
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
        sa.PrimaryKeyConstraint("source", "llm_id", "metric_id", "hour", name="pk_rollups"),
    )
    op.create_index("ix_rollups_source_hour", "rollups", ["source", "hour"])
    op.create_table(
        "run_counts",
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("runs", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("source", "hour", name="pk_run_counts"),
    )


def downgrade() -> None:
    op.drop_table("run_counts")
    op.drop_table("rollups")
