"""Rollups keep the moments of their runs' log medians: how far a window's runs stand apart, on
which a window's quantile intervals are floored (services/intervals.py), whatever the runs' sizes.

Rollups are derived data: the columns are added and both tables rebuilt from the valid completed
runs (`adapters.persistence.rollups.rebuild`). Downgrading drops the columns.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from src.adapters.persistence.rollups import rebuild

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None
COLUMNS = ("run_log_median_mean", "run_log_median_m2")


def upgrade() -> None:
    for name in COLUMNS:  # the default only fills the rows the rebuild replaces (SQLite needs one)
        op.add_column("rollups", sa.Column(name, sa.Float, nullable=False, server_default="0"))
    rebuild(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("rollups") as table:  # SQLite rebuilds the table
        for name in COLUMNS:
            table.drop_column(name)
