"""The catalogue is open: LLMs added by admins, with an optional family and size.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("llms", sa.Column("family", sa.String(100), nullable=True))
    op.add_column("llms", sa.Column("size", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("llms") as table:  # SQLite rebuilds the table
        table.drop_column("size")
        table.drop_column("family")
