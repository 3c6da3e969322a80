"""Rollups at every run hour: each pair gets a row at every hour a run of its source finished in,
from its first run on, so that a window reads the rows of two known hours in one query.

Before, a pair had rows only at the hours it ran in; those rows stay right, and the rows added
carry a pair's totals on. Downgrading keeps them (the older reader looks each pair's hours up).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from alembic import op

from src.adapters.persistence.rollups import rebuild

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    rebuild(op.get_bind())


def downgrade() -> None:
    pass  # the carried rows are right for the older reader too
