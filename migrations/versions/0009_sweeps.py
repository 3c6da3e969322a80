"""Sweeps: a plan measured at rising loads, each stage a measured run (simulation_runs.sweep_id).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _enum(*values: str) -> sa.Enum:
    return sa.Enum(*values, native_enum=False, length=16, create_constraint=False)


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("endpoint_id", sa.Integer, sa.ForeignKey("endpoints.id"), nullable=False),
        sa.Column("load", _enum("concurrency", "rate"), nullable=False),
        sa.Column("loads", sa.JSON, nullable=False),
        sa.Column("plan", sa.JSON, nullable=False),
        sa.Column("min_gain", sa.Float, nullable=False),
        sa.Column("max_error_rate", sa.Float, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(40)),
        sa.Column("status", _enum("queued", "running", "completed", "failed"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("stop_reason", sa.Text),
    )
    with op.batch_alter_table("simulation_runs") as table:  # SQLite rebuilds the table for the key
        table.add_column(sa.Column("sweep_id", sa.Integer, nullable=True))
        table.create_foreign_key(
            "fk_simulation_runs_sweep_id_sweeps", "sweeps", ["sweep_id"], ["id"], ondelete="CASCADE"
        )
        table.create_index("ix_simulation_runs_sweep_id", ["sweep_id"])


def downgrade() -> None:
    with op.batch_alter_table("simulation_runs") as table:
        table.drop_index("ix_simulation_runs_sweep_id")
        table.drop_constraint("fk_simulation_runs_sweep_id_sweeps", type_="foreignkey")
        table.drop_column("sweep_id")
    op.drop_table("sweeps")
