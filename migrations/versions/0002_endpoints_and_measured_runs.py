"""Endpoints of OpenAI-compatible APIs, and measured runs (endpoint and details on runs).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "endpoints",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("llm_id", sa.Integer(), nullable=False),
        sa.Column("base_url", sa.String(500), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("api_key_env", sa.String(100)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_endpoints"),
        sa.UniqueConstraint("name", name="uq_endpoints_name"),
        sa.ForeignKeyConstraint(["llm_id"], ["llms.id"], name="fk_endpoints_llm_id_llms"),
    )
    # Batch mode: SQLite can only add a foreign key by copying the table.
    with op.batch_alter_table("simulation_runs") as runs:
        runs.add_column(sa.Column("endpoint_id", sa.Integer()))
        runs.add_column(sa.Column("details", sa.JSON()))
        runs.create_foreign_key("fk_simulation_runs_endpoint_id_endpoints", "endpoints", ["endpoint_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("simulation_runs") as runs:
        runs.drop_constraint("fk_simulation_runs_endpoint_id_endpoints", type_="foreignkey")
        runs.drop_column("details")
        runs.drop_column("endpoint_id")
    op.drop_table("endpoints")
