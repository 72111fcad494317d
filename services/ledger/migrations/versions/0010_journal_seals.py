"""The writer seals the last journal entry of every batch it commits (A6R-48, A6R-21).

Anyone who can insert rows can chain an entry correctly, the chain needing no secret; before this,
the writer loaded such an entry with the rest and signed it into its next checkpoint. The seal is
the writer's signature over the entry's sequence and hash: at start, the writer refuses a journal
whose entries after the last checkpoint end without one, and `verify` names them.

Entries must be sealed from the first sealed one on: entries recorded before (by a build without
seals, an earlier leader still running while this one migrated included) carry none. A journal
empty when migrated must be sealed from its first entry (`journal_sealed_from`): nobody can slip
unsealed entries in before the writer's first batch.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.execute("ALTER TABLE journal ADD COLUMN seal jsonb")
    op.execute("CREATE TABLE journal_sealed_from (sequence bigint NOT NULL CHECK (sequence >= 1))")
    op.execute("INSERT INTO journal_sealed_from SELECT 1 WHERE NOT EXISTS (SELECT FROM journal)")
    # The first sealed entry, read at every load.
    op.execute("CREATE INDEX journal_sealed ON journal (sequence) WHERE seal IS NOT NULL")
    op.execute(
        "CREATE TRIGGER journal_sealed_from_immutable BEFORE UPDATE OR DELETE OR TRUNCATE ON journal_sealed_from "
        "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()"
    )


def downgrade() -> None:
    op.execute("DROP TABLE journal_sealed_from")
    op.execute("ALTER TABLE journal DROP COLUMN seal")
