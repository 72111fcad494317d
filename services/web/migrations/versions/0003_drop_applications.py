"""The ledger lists account applications now (GET /applications): the web's own copy of the ones
submitted through it goes.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.execute("DROP TABLE applications")
