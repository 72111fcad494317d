"""A proposal awaiting its verdict is kept as the ledger wrote it, and sealed by its writer: only
its decision time is ever set, once, and no row is deleted.

A ledger restarted while proposals await their verdicts takes each one's command and identity
from its row when the verdict comes. Before, the service's database role could rewrite a pending
proposal (another destination, another initiator), or slip in one of its own, and the genuine
verdict, bound to the digest of the proposal as published, would then carry out that command.
The seal (the writer's signature over the row's fields, ledger.domain.journal) vouches for the
row: one without it is never decided. Proposals pending when this migration runs have none.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    op.execute("ALTER TABLE proposals ADD COLUMN seal jsonb")
    op.execute(
        """
        CREATE FUNCTION found_record(schema text, tx uuid) RETURNS boolean LANGUAGE plpgsql AS $$
        DECLARE found_it boolean;
        BEGIN
            EXECUTE format('SELECT EXISTS (SELECT FROM %I.transactions WHERE id = $1)', schema) INTO found_it USING tx;
            RETURN found_it;
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION proposal_kept() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION 'proposal % is kept: proposals are never deleted', OLD.id;
            END IF;
            IF OLD.decided_at IS NOT NULL OR NEW.decided_at IS NULL
               OR to_jsonb(NEW) - 'decided_at' IS DISTINCT FROM to_jsonb(OLD) - 'decided_at' THEN
                RAISE EXCEPTION 'proposal % is kept as written: only its decision time is set, once', OLD.id;
            END IF;
            -- Decided only with the transaction record of its decision, written just before.
            IF NOT found_record(TG_TABLE_SCHEMA, OLD.id) THEN
                RAISE EXCEPTION 'proposal % is decided only with its transaction record', OLD.id;
            END IF;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER proposals_kept BEFORE UPDATE OR DELETE ON proposals "
        "FOR EACH ROW EXECUTE FUNCTION proposal_kept()"
    )
    op.execute(
        "CREATE TRIGGER proposals_not_truncated BEFORE TRUNCATE ON proposals "
        "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER proposals_not_truncated ON proposals")
    op.execute("DROP TRIGGER proposals_kept ON proposals")
    op.execute("DROP FUNCTION proposal_kept()")
    op.execute("DROP FUNCTION found_record(text, uuid)")
    op.execute("ALTER TABLE proposals DROP COLUMN seal")
