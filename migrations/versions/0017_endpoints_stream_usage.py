"""Endpoints say whether requests ask for token usage in the stream (`stream_options`): yes, as every
request did so far, or no for an API that refuses fields it does not know.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("endpoints", sa.Column("stream_usage", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("endpoints") as table:  # SQLite drops a column by copying the table
        table.drop_column("stream_usage")
