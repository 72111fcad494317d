"""The writer seals the last journal entry of every batch it commits (A6R-48, A6R-21).

Anyone who can insert rows can chain an entry correctly, the chain needing no secret; before this,
the writer loaded such an entry with the rest and signed it into its next checkpoint. The seal is
the writer's signature over the entry's sequence and hash: at start, the writer refuses a journal
whose entries after the last checkpoint end without one, and `verify` names them.

`journal_sealed_from` holds the first sequence that must be sealed: entries recorded before this
migration carry no seal.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.execute("ALTER TABLE journal ADD COLUMN seal jsonb")
    op.execute("CREATE TABLE journal_sealed_from (sequence bigint NOT NULL CHECK (sequence >= 1))")
    op.execute("INSERT INTO journal_sealed_from SELECT COALESCE(max(sequence), 0) + 1 FROM journal")
    op.execute(
        "CREATE TRIGGER journal_sealed_from_immutable BEFORE UPDATE OR DELETE OR TRUNCATE ON journal_sealed_from "
        "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()"
    )


def downgrade() -> None:
    op.execute("DROP TABLE journal_sealed_from")
    op.execute("ALTER TABLE journal DROP COLUMN seal")
