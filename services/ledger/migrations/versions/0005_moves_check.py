"""`moves_agree(ok, message)`: the writer's block moves check their own outcome in the database.

A batch's moves are one statement that deletes the retired holdings and inserts their successors;
the writer knows how many of each it expects (from its memory of the live blocks). The statement
compares those counts itself and raises an integrity error when they disagree, so that the
writer can send its COMMIT in the same round trip: a disagreement aborts the transaction before
anything is committed, instead of being found by the client after the commit was already sent.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    # VOLATILE (the default): never folded into a constant when the statement is planned.
    op.execute(
        """
        CREATE FUNCTION moves_agree(ok boolean, message text) RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN
            IF ok IS NOT TRUE THEN
                RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation', MESSAGE = message;
            END IF;
            RETURN true;
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION moves_agree(boolean, text)")
