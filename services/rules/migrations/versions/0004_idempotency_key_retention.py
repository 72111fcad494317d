"""Idempotency keys are kept for a retention period (`idempotency_key_retention_seconds`).

A key older than that is free again, and each claim of a key deletes a bounded batch of the
oldest expired ones: `idempotency_keys_created` makes that batch an index range rather than a
scan of every key kept.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.execute("CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at)")


def downgrade() -> None:
    op.execute("DROP INDEX idempotency_keys_created")
