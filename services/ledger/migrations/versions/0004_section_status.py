"""A Party-specific section's status (issue 7): active, or suspended by a registry administrator.

The status is the one column of `sections` that changes; the rest of the row stays immutable, and
the journal keeps every change with its reason.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.execute(
        "ALTER TABLE sections ADD COLUMN status text NOT NULL DEFAULT 'active' "
        "CHECK (status IN ('active', 'suspended'))"
    )
    op.execute("DROP TRIGGER sections_immutable ON sections")
    op.execute(
        "CREATE TRIGGER sections_immutable BEFORE DELETE OR TRUNCATE ON sections "
        "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER sections_fixed BEFORE UPDATE ON sections FOR EACH ROW "
        "WHEN ((OLD.party, OLD.name, OLD.created_tx, OLD.created_at) "
        "IS DISTINCT FROM (NEW.party, NEW.name, NEW.created_tx, NEW.created_at)) "
        "EXECUTE FUNCTION refuse_change()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER sections_fixed ON sections")
    op.execute("DROP TRIGGER sections_immutable ON sections")
    op.execute("ALTER TABLE sections DROP COLUMN status")
    op.execute(
        "CREATE TRIGGER sections_immutable BEFORE UPDATE OR DELETE OR TRUNCATE ON sections "
        "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()"
    )
