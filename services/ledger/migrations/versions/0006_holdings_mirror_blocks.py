"""A live holding is its block as recorded, in its issuance's serial scope (A6R-40).

`holdings` is the projection of the live `unit_blocks`. Its foreign keys used to check only that
the block, account, scope and issuance each exist, so a holding could name another account or
other serials than its block, or a scope other than its issuance's. The exclusion constraint,
which refuses overlapping live serials, trusts `holdings.scope_id`: a holding in the wrong scope
escaped it. Two composite keys now tie every holding to its block's account, issuance and serials,
and to its issuance's scope. They replace the four single-column keys, so PostgreSQL also runs two
checks per new holding instead of four.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"

_SINGLE = {
    "holdings_block_id_fkey": "(block_id) REFERENCES unit_blocks",
    "holdings_account_number_fkey": "(account_number) REFERENCES accounts",
    "holdings_scope_id_fkey": "(scope_id) REFERENCES serial_scopes",
    "holdings_issuance_id_fkey": "(issuance_id) REFERENCES issuances",
}


def upgrade() -> None:
    op.execute(
        "ALTER TABLE unit_blocks ADD CONSTRAINT unit_blocks_as_held "
        "UNIQUE (id, account_number, issuance_id, first_serial, last_serial)"
    )
    op.execute("ALTER TABLE issuances ADD CONSTRAINT issuances_in_scope UNIQUE (id, scope_id)")
    for name in _SINGLE:
        op.execute(f"ALTER TABLE holdings DROP CONSTRAINT {name}")
    op.execute(
        "ALTER TABLE holdings ADD CONSTRAINT holdings_block_as_recorded "
        "FOREIGN KEY (block_id, account_number, issuance_id, first_serial, last_serial) "
        "REFERENCES unit_blocks (id, account_number, issuance_id, first_serial, last_serial)"
    )
    op.execute(
        "ALTER TABLE holdings ADD CONSTRAINT holdings_scope_of_issuance "
        "FOREIGN KEY (issuance_id, scope_id) REFERENCES issuances (id, scope_id)"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE holdings DROP CONSTRAINT holdings_scope_of_issuance")
    op.execute("ALTER TABLE holdings DROP CONSTRAINT holdings_block_as_recorded")
    for name, definition in _SINGLE.items():
        op.execute(f"ALTER TABLE holdings ADD CONSTRAINT {name} FOREIGN KEY {definition}")
    op.execute("ALTER TABLE issuances DROP CONSTRAINT issuances_in_scope")
    op.execute("ALTER TABLE unit_blocks DROP CONSTRAINT unit_blocks_as_held")
