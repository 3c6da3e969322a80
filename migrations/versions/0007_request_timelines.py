"""Each measured run's requests as they happened: a row a run, its records compressed, removed
with the raw samples of their day.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_timelines",
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("recorded_on", sa.Date, nullable=False),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("records", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_request_timelines"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["simulation_runs.id"], name="fk_request_timelines_run_id_simulation_runs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_request_timelines_recorded_on", "request_timelines", ["recorded_on"])


def downgrade() -> None:
    op.drop_index("ix_request_timelines_recorded_on", table_name="request_timelines")
    op.drop_table("request_timelines")
