"""Descriptor records and what the service learns from the ledger's events.

Records are insert-only (a trigger refuses UPDATE, DELETE and TRUNCATE): a descriptor is never
changed or recalled, only superseded by a new one (A6R-55). `descriptors` holds this registry's own
descriptors and those received from peers, each with its signed JWS; `descriptor_ranges` the serial
ranges each covers; `allocations` the units a capped condition-based authorization took at issuance.
`issued_units` and `movements` are the unit history read from ledger.TransactionRecorded, on which
first-transfer markers are decided; `staged_transactions` and `decided_transactions` track which
transactions the marker sequencer has decided. `accounts` (a cache of the ledger's accounts) and
`peer_cursors` (how far each peer's feed was read) are projections, updated in place.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"

SCOPE = "originating_registry text NOT NULL, issuing_party text NOT NULL, activity_id text NOT NULL, " \
    "vintage int NOT NULL, metric text NOT NULL"  # fmt: skip
SCOPE_COLUMNS = "originating_registry, issuing_party, activity_id, vintage, metric"
IMMUTABLE = (
    "descriptors",
    "descriptor_ranges",
    "allocations",
    "issued_units",
    "movements",
    "staged_transactions",
    "decided_transactions",
)

STATEMENTS = [
    """
    CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'records in %.% are immutable: % refused', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END $$
    """,
    """
    CREATE TABLE descriptors (
        id uuid PRIMARY KEY,
        sequence bigserial NOT NULL UNIQUE,
        kind text NOT NULL CHECK (kind IN ('authorization', 'first_transfer')),
        origin_registry text NOT NULL,
        issuing_party text NOT NULL,
        cooperative_approach text,
        created_at timestamptz NOT NULL,
        applicable_from timestamptz NOT NULL CHECK (applicable_from >= created_at),
        supersedes uuid,
        dedication text CHECK (dedication IN ('ndc', 'oimp', 'ndc_oimp')),
        oimp_trigger text,
        conditions jsonb,
        transferred_at timestamptz,
        basis text,
        transaction_id text,
        document jsonb NOT NULL,
        jws text NOT NULL,
        request_hash text,
        received_from text,
        stored_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        CHECK ((kind = 'authorization') = (dedication IS NOT NULL))
    )
    """,
    "CREATE INDEX descriptors_supersedes ON descriptors (supersedes) WHERE supersedes IS NOT NULL",
    "CREATE INDEX descriptors_party ON descriptors (issuing_party, kind, created_at)",
    "CREATE INDEX descriptors_approach ON descriptors (cooperative_approach, created_at)",
    "CREATE INDEX descriptors_conditions ON descriptors (issuing_party) WHERE conditions IS NOT NULL",
    f"""
    CREATE TABLE descriptor_ranges (
        descriptor_id uuid NOT NULL REFERENCES descriptors,
        {SCOPE},
        first_serial bigint NOT NULL,
        last_serial bigint NOT NULL,
        CHECK (first_serial >= 1 AND first_serial <= last_serial)
    )
    """,
    f"CREATE INDEX descriptor_ranges_scope ON descriptor_ranges ({SCOPE_COLUMNS}, first_serial)",
    "CREATE INDEX descriptor_ranges_descriptor ON descriptor_ranges (descriptor_id)",
    f"""
    CREATE TABLE allocations (
        authorization_id uuid NOT NULL REFERENCES descriptors,
        transaction_id text NOT NULL,
        {SCOPE},
        first_serial bigint NOT NULL,
        last_serial bigint NOT NULL,
        UNIQUE (authorization_id, transaction_id, {SCOPE_COLUMNS}, first_serial)
    )
    """,
    f"CREATE INDEX allocations_scope ON allocations ({SCOPE_COLUMNS}, first_serial)",
    f"""
    CREATE TABLE issued_units (
        transaction_id text NOT NULL,
        op_index int NOT NULL,
        {SCOPE},
        first_serial bigint NOT NULL,
        last_serial bigint NOT NULL,
        account text NOT NULL,
        cooperative_approach text,
        recorded_at timestamptz NOT NULL,
        UNIQUE (transaction_id, op_index, {SCOPE_COLUMNS}, first_serial)
    )
    """,
    f"CREATE INDEX issued_units_scope ON issued_units ({SCOPE_COLUMNS}, first_serial)",
    f"""
    CREATE TABLE movements (
        id bigserial PRIMARY KEY,
        transaction_id text NOT NULL,
        transaction_kind text NOT NULL,
        op_index int NOT NULL,
        kind text NOT NULL,
        supplementary boolean NOT NULL,
        source_account text,
        destination_account text NOT NULL,
        source_party text,
        destination_party text,
        destination_type text,
        {SCOPE},
        first_serial bigint NOT NULL,
        last_serial bigint NOT NULL,
        recorded_at timestamptz NOT NULL,
        UNIQUE (transaction_id, op_index, {SCOPE_COLUMNS}, first_serial)
    )
    """,
    f"CREATE INDEX movements_scope ON movements ({SCOPE_COLUMNS}, first_serial)",
    # Recorded transactions in the order they were consumed, and once markers were decided for them
    # (in ledger order: service_layer.sequencer).
    """
    CREATE TABLE staged_transactions (
        transaction_id text PRIMARY KEY,
        kind text NOT NULL,
        recorded_at timestamptz NOT NULL,
        staged_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )
    """,
    "CREATE INDEX staged_transactions_order ON staged_transactions (recorded_at, transaction_id)",
    """
    CREATE TABLE decided_transactions (
        transaction_id text PRIMARY KEY REFERENCES staged_transactions,
        decided_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )
    """,
    """
    CREATE TABLE accounts (
        number text PRIMARY KEY,
        section text,
        type text NOT NULL,
        cooperative_approach text,
        learned_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )
    """,
    """
    CREATE TABLE peer_cursors (
        registry text PRIMARY KEY,
        after_sequence bigint NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
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
