"""Campaigns: endpoints measured together, each one's part a measured run (simulation_runs.campaign_id).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(40)),
    )
    with op.batch_alter_table("simulation_runs") as table:  # SQLite rebuilds the table for the key
        table.add_column(sa.Column("campaign_id", sa.Integer, nullable=True))
        table.create_foreign_key(
            "fk_simulation_runs_campaign_id_campaigns", "campaigns", ["campaign_id"], ["id"], ondelete="CASCADE"
        )
        table.create_index("ix_simulation_runs_campaign_id", ["campaign_id"])


def downgrade() -> None:
    with op.batch_alter_table("simulation_runs") as table:
        table.drop_index("ix_simulation_runs_campaign_id")
        table.drop_constraint("fk_simulation_runs_campaign_id_campaigns", type_="foreignkey")
        table.drop_column("campaign_id")
    op.drop_table("campaigns")
