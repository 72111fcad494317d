"""A proposal keeps the command as the client sent it, beside the resolved one (A6R-48 d).

The saga resolves a selection into the ranges it chose, and an issuance into its first serial,
before asking the rules service; the journal records both, so what the client asked for is kept.
NULL where the client's command needed no resolving.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.execute("ALTER TABLE proposals ADD COLUMN requested jsonb")


def downgrade() -> None:
    op.execute("ALTER TABLE proposals DROP COLUMN requested")
