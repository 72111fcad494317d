"""A recorded transfer is reversed at most once (A6R-55).

A second reversal naming the same transfer would move back serials that a later transfer moved
again, undoing that later transfer without naming it. The writer refuses it (`already_reversed`);
this index is the database's own refusal, and lets the writer find an earlier reversal without
reading every transaction.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.execute(
        "CREATE UNIQUE INDEX transactions_one_reversal ON transactions ((result->>'corrects')) "
        "WHERE kind = 'corrective_transfer' AND outcome = 'recorded' AND result->>'correction' = 'reversal'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX transactions_one_reversal")
