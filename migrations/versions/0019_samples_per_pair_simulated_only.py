"""samples_per_pair is a simulated run's only.

A measured run's held its requests, which its plan keeps (every plan since measured runs began;
one without is given them), and now holds none.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08
"""

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

runs = sa.table("simulation_runs", sa.column("id"), sa.column("source"), sa.column("samples_per_pair"),
                sa.column("details", sa.JSON))  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("simulation_runs") as table:  # SQLite alters a column by copying the table
        table.alter_column("samples_per_pair", existing_type=sa.Integer(), nullable=True)
    for run_id, requests, details in measured_runs(runs.c.samples_per_pair):
        plan = (details or {}).get("plan", {})
        if "requests" not in plan:  # nothing is lost
            new_details = (details or {}) | {"plan": plan | {"requests": requests}}
            op.execute(runs.update().where(runs.c.id == run_id).values(details=new_details))
    op.execute(runs.update().where(runs.c.source == "measured").values(samples_per_pair=None))


def downgrade() -> None:
    for run_id, details in measured_runs():
        op.execute(runs.update().where(runs.c.id == run_id).values(samples_per_pair=details["plan"]["requests"]))
    with op.batch_alter_table("simulation_runs") as table:
        table.alter_column("samples_per_pair", existing_type=sa.Integer(), nullable=False)


def measured_runs(*columns: Any) -> Iterator[tuple[Any, ...]]:
    """Each measured run's id, `columns` and details, read one run at a time: details can be large."""
    connection = op.get_bind()
    ids = connection.execute(sa.select(runs.c.id).where(runs.c.source == "measured").order_by(runs.c.id))
    for run_id in ids.scalars().all():
        yield run_id, *connection.execute(sa.select(*columns, runs.c.details).where(runs.c.id == run_id)).one()
