"""`holdings`: no vacuum triggered by inserts alone.

`holdings` is the projection of the live blocks, and nearly every row inserted into it replaces rows
deleted in the same transaction (a split, a move, a coalescing); only issuances add rows without
deleting any. So its dead rows are what call for a vacuum, and the dead-row threshold
(`autovacuum_vacuum_scale_factor`) still brings one. The vacuums that PostgreSQL 18 started on inserts
alone came about once a minute under load at 10^6 live blocks, each a scan of the whole GiST
exclusion index: on two cores it took most of a core from the writer for seconds, and the open
loop's p99 with it (docs/ledger-performance.md, "Neighbours", session 12). The append-only tables
keep their insert-triggered vacuums: those set the visibility map and freeze pages early.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.execute("ALTER TABLE holdings SET (autovacuum_vacuum_insert_threshold = -1)")


def downgrade() -> None:
    op.execute("ALTER TABLE holdings RESET (autovacuum_vacuum_insert_threshold)")
