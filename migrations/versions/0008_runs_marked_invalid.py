"""A completed run can be marked invalid (a measured run whose client was the bottleneck), with
the reason: it is kept, but the latest run and windows leave it out.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("simulation_runs", sa.Column("invalid", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("simulation_runs") as table:  # SQLite rebuilds the table
        table.drop_column("invalid")
