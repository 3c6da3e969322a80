"""An index of runs by endpoint, finish and id (their order): each endpoint's newest runs, for the
latest measured ranking and an endpoint's status, are read from it whatever the other endpoints'.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None
INDEX = "ix_simulation_runs_endpoint_id_finished_at"


def upgrade() -> None:
    op.create_index(INDEX, "simulation_runs", ["endpoint_id", "finished_at", "id"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="simulation_runs")
