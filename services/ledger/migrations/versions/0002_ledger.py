"""The ledger's own tables: configuration, accounts, unit blocks, transactions and the journal.

Records (transactions, issuances, unit blocks, block retirements, status changes, journal entries
and checkpoints) are insert-only: a trigger refuses UPDATE and DELETE, so a mistake can only be
fixed by a corrective record (A6R-55). `holdings` is the projection of live blocks, kept in the same
transaction and rebuildable by replay; its exclusion constraint makes PostgreSQL itself refuse two
live blocks with overlapping serials in one serial scope (A6R-40).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"

IMMUTABLE = (
    "transactions",
    "sections",
    "cooperative_approaches",
    "serial_scopes",
    "issuances",
    "unit_blocks",
    "block_retirements",
    "account_events",
    "application_decisions",
    "journal",
    "journal_checkpoints",
)

STATEMENTS = [
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    """
    CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'records in %.% are immutable: % refused', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END $$
    """,
    """
    CREATE TABLE transactions (
        id uuid PRIMARY KEY,
        kind text NOT NULL,
        request_hash bytea NOT NULL,
        outcome text NOT NULL CHECK (outcome IN ('recorded', 'rejected')),
        initiator text NOT NULL,
        on_behalf_of text,
        input jsonb NOT NULL,
        result jsonb NOT NULL,
        journal_sequence bigint NOT NULL UNIQUE,
        recorded_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX transactions_recorded_at ON transactions (recorded_at, id)",
    """
    CREATE TABLE sections (
        party char(3) PRIMARY KEY,
        name text NOT NULL,
        created_tx uuid NOT NULL,
        created_at timestamptz NOT NULL
    )
    """,
    """
    CREATE TABLE cooperative_approaches (
        id text PRIMARY KEY CHECK (id ~ '^CA[0-9]{4}$'),
        name text NOT NULL,
        parties text[] NOT NULL,
        created_tx uuid NOT NULL,
        created_at timestamptz NOT NULL
    )
    """,
    """
    CREATE TABLE accounts (
        number text PRIMARY KEY,
        holder text NOT NULL,
        section char(3) REFERENCES sections,
        cooperative_approach text REFERENCES cooperative_approaches,
        type text NOT NULL,
        status text NOT NULL,
        opened_tx uuid NOT NULL,
        opened_at timestamptz NOT NULL
    )
    """,
    # One proxy account per registry (A6R-54).
    "CREATE UNIQUE INDEX accounts_one_proxy ON accounts (type) WHERE type = 'proxy'",
    """
    CREATE TABLE account_events (
        id bigserial PRIMARY KEY,
        account_number text NOT NULL REFERENCES accounts,
        tx uuid NOT NULL,
        old_status text,
        new_status text NOT NULL,
        recorded_at timestamptz NOT NULL
    )
    """,
    # An application is a recorded `apply_for_account` transaction; its decision is a record too.
    """
    CREATE TABLE application_decisions (
        application_id uuid PRIMARY KEY REFERENCES transactions,
        approved boolean NOT NULL,
        account_number text REFERENCES accounts,
        tx uuid NOT NULL
    )
    """,
    """
    CREATE TABLE serial_scopes (
        id bigint PRIMARY KEY,
        originating_registry text NOT NULL,
        issuing_party char(3) NOT NULL,
        activity_id text NOT NULL,
        vintage int NOT NULL,
        metric text NOT NULL,
        UNIQUE (originating_registry, issuing_party, activity_id, vintage, metric)
    )
    """,
    """
    CREATE TABLE issuances (
        id bigint PRIMARY KEY,
        tx uuid NOT NULL,
        scope_id bigint NOT NULL REFERENCES serial_scopes,
        first_serial bigint NOT NULL,
        last_serial bigint NOT NULL,
        cooperative_approach text REFERENCES cooperative_approaches,
        first_transferring_party char(3),
        sectors text[] NOT NULL,
        activity_types text[] NOT NULL,
        underlying_registry text,
        underlying_first text,
        underlying_last text,
        CHECK (first_serial >= 1 AND first_serial <= last_serial)
    )
    """,
    """
    CREATE TABLE unit_blocks (
        id bigint PRIMARY KEY,
        issuance_id bigint NOT NULL REFERENCES issuances,
        first_serial bigint NOT NULL,
        last_serial bigint NOT NULL,
        account_number text NOT NULL REFERENCES accounts,
        created_tx uuid NOT NULL,
        parent_block bigint REFERENCES unit_blocks,
        CHECK (first_serial >= 1 AND first_serial <= last_serial)
    )
    """,
    "CREATE INDEX unit_blocks_account ON unit_blocks (account_number)",
    "CREATE INDEX unit_blocks_created_tx ON unit_blocks (created_tx)",
    """
    CREATE TABLE block_retirements (
        block_id bigint PRIMARY KEY REFERENCES unit_blocks,
        tx uuid NOT NULL
    )
    """,
    """
    CREATE TABLE holdings (
        block_id bigint PRIMARY KEY REFERENCES unit_blocks,
        account_number text NOT NULL REFERENCES accounts,
        scope_id bigint NOT NULL REFERENCES serial_scopes,
        issuance_id bigint NOT NULL REFERENCES issuances,
        first_serial bigint NOT NULL,
        last_serial bigint NOT NULL,
        quantity bigint GENERATED ALWAYS AS (last_serial - first_serial + 1) STORED,
        EXCLUDE USING gist (scope_id WITH =, int8range(first_serial, last_serial, '[]') WITH &&)
    )
    """,
    # Implicit selection (A6R-52) reads exact-size matches, then the smallest blocks first.
    "CREATE INDEX holdings_selection ON holdings (account_number, quantity, first_serial)",
    """
    CREATE TABLE journal (
        sequence bigint PRIMARY KEY CHECK (sequence >= 1),
        recorded_at timestamptz NOT NULL,
        kind text NOT NULL,
        body jsonb NOT NULL,
        previous_hash bytea NOT NULL,
        entry_hash bytea NOT NULL UNIQUE
    )
    """,
    """
    CREATE TABLE journal_checkpoints (
        tree_size bigint PRIMARY KEY,
        root_hash bytea NOT NULL,
        signature jsonb NOT NULL,
        signed_at timestamptz NOT NULL
    )
    """,
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)
    for table in IMMUTABLE:
        op.execute(
            f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()"
        )
