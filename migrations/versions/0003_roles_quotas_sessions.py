"""Roles on keys and accounts, who asked for each run, and server-side log-out.

Keys and accounts that existed before roles become readers: an admin grants more
(`flask users set-role`, `flask create-api-key --role`).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("users", "api_keys"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("role", sa.String(16), nullable=False, server_default="reader"))
    with op.batch_alter_table("users") as users:
        users.add_column(sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("simulation_runs") as runs:
        runs.add_column(sa.Column("requested_by", sa.String(40)))
        runs.create_index("ix_simulation_runs_requested_by_created_at", ["requested_by", "created_at"])


def downgrade() -> None:
    with op.batch_alter_table("simulation_runs") as runs:
        runs.drop_index("ix_simulation_runs_requested_by_created_at")
        runs.drop_column("requested_by")
    with op.batch_alter_table("users") as users:
        users.drop_column("session_generation")
    for table in ("users", "api_keys"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("role")
