"""Peer descriptors held for another try (A6R-53).

A peer's descriptor refused for a reason this registry's own knowledge may yet remove (its key not
yet registered, its cooperative approach not yet known, its Party not yet served) is held here while
the pull cursor moves on, and tried again every round until it is stored or finally refused.
Bookkeeping, updated in place; not part of the state digest.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE held_descriptors (
            registry text NOT NULL,
            sequence bigint NOT NULL,
            descriptor_id text NOT NULL,
            jws text NOT NULL,
            code text NOT NULL,
            message text NOT NULL,
            attempts int NOT NULL DEFAULT 1,
            held_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            tried_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (registry, sequence)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE held_descriptors")
