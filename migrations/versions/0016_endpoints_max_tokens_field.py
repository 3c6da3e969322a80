"""Endpoints say which request field their API reads the output limit from: max_tokens (most
servers, and every endpoint so far) or max_completion_tokens (OpenAI's reasoning models refuse
max_tokens).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    field = sa.Enum("max_tokens", "max_completion_tokens", native_enum=False, length=24, create_constraint=False)
    op.add_column("endpoints", sa.Column("max_tokens_field", field, nullable=False, server_default="max_tokens"))


def downgrade() -> None:
    with op.batch_alter_table("endpoints") as table:  # SQLite drops a column by copying the table
        table.drop_column("max_tokens_field")
