"""At most one authorization supersedes an authorization (A6R-55).

A correction replaces the authorization in force, so two replacing the same one would fork its
history. Both this registry's corrections and peers' take the "successor" lock and check first
(service_layer.authorizations, service_layer.propagation); the index keeps it so whatever writes.
Markers are left out: the sequencer may supersede one marker piece by piece.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.execute(
        "CREATE UNIQUE INDEX descriptors_one_successor ON descriptors (supersedes) "
        "WHERE kind = 'authorization' AND supersedes IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX descriptors_one_successor")
