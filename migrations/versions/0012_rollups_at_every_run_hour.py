"""Rollups at every run hour: each pair gets a row at every hour a run of its source finished in,
from its first run on, so that a window reads the rows of two known hours in one query.

Before, a pair had rows only at the hours it ran in; those rows stay right, and the rows added
carry a pair's totals on. Revision 0014, which reshapes the tables, now writes them (a rebuild here
would write its shape). Downgrading keeps them (the older reader looks each pair's hours up).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # revision 0014 rebuilds the rollups in their newer shape


def downgrade() -> None:
    pass  # the carried rows are right for the older reader too
