"""Unit transactions waiting for the rules service's verdict (A6R-47 steps 2-3, the saga of issue 5).

A proposal row is working state, not a record: the journal holds the decision (with the verdict and
the rule versions it applied) once it is taken. The row keeps the command as resolved when proposed
(explicit serial ranges, the issued serials), so the decision executes exactly what the rules saw.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE proposals (
            id uuid PRIMARY KEY,
            request_hash bytea NOT NULL,
            command jsonb NOT NULL,
            identity jsonb NOT NULL,
            proposed_at timestamptz NOT NULL,
            deadline timestamptz NOT NULL,
            -- What the decision will take (saga.Reservations): kept from other proposals meanwhile.
            reserved jsonb NOT NULL,
            decided_at timestamptz
        )
        """
    )
    op.execute("CREATE INDEX proposals_pending ON proposals (deadline) WHERE decided_at IS NULL")


def downgrade() -> None:
    op.execute("DROP TABLE proposals")
