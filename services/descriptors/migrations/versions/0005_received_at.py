"""When a peer's descriptor was stored here, from which it applies here at the earliest (A6R-21).

A peer dates its descriptors itself, and one may reach this registry after the instant it gave them
(late, or back-dated): applied from that instant, it would change what this registry already said
was in force at instants past. It applies here from `applicable_from`, which for a peer's is the
later of its own instant (kept in the signed document) and `received_at`; replay stores it again
with the same `received_at` (service_layer.replay). Peers' descriptors stored before this revision
have none and keep applying from their own instant.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.execute(
        "ALTER TABLE descriptors ADD COLUMN received_at timestamptz "
        "CHECK (received_at IS NULL OR (received_from IS NOT NULL AND applicable_from >= received_at))"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE descriptors DROP COLUMN received_at")
