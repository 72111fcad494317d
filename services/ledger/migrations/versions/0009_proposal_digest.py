"""A proposal keeps the digest of the ProposalSubmitted payload it was published as.

A verdict is applied only if the rules service signed it and it names this digest
(registry_contracts.verdicts): it answers this proposal, not one someone else published under the
same transaction id. NULL for proposals published before: their verdicts are not applied, and the
deadline denies them.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.execute("ALTER TABLE proposals ADD COLUMN proposal_digest text")


def downgrade() -> None:
    op.execute("ALTER TABLE proposals DROP COLUMN proposal_digest")
