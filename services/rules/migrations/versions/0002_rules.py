"""The rules service's tables: catalogue, bindings, suspensions, configuration journal, evaluations,
and the holdings read model of compliance checks.

Records are insert-only (a trigger refuses UPDATE, DELETE and TRUNCATE): a rule version is never
edited, a retirement, a binding's removal or a suspension is a new record, and each change is an
entry of the hash-chained configuration journal (A6R-17, A6R-39). `accounts` and `holdings` are
read models built from the ledger's events, rebuildable by consuming them again.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"

IMMUTABLE = (
    "configuration_journal",
    "rule_versions",
    "version_retirements",
    "bindings",
    "binding_removals",
    "suspensions",
    "evaluations",
    "compliance_checks",
    "compliance_violations",
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
    CREATE TABLE configuration_journal (
        sequence bigint PRIMARY KEY CHECK (sequence >= 1),
        recorded_at timestamptz NOT NULL,
        kind text NOT NULL,
        body jsonb NOT NULL,
        previous_hash bytea NOT NULL,
        entry_hash bytea NOT NULL UNIQUE
    )
    """,
    """
    CREATE TABLE rule_versions (
        rule text NOT NULL,
        version int NOT NULL CHECK (version >= 1),
        kind text NOT NULL CHECK (kind IN ('business', 'compliance')),
        definition jsonb NOT NULL,
        effective_from timestamptz NOT NULL,
        retire_at timestamptz,
        created_by text NOT NULL,
        journal_sequence bigint NOT NULL REFERENCES configuration_journal,
        PRIMARY KEY (rule, version)
    )
    """,
    """
    CREATE TABLE version_retirements (
        rule text NOT NULL,
        version int NOT NULL,
        retire_at timestamptz NOT NULL,
        reason text NOT NULL,
        journal_sequence bigint PRIMARY KEY REFERENCES configuration_journal,
        FOREIGN KEY (rule, version) REFERENCES rule_versions
    )
    """,
    """
    CREATE TABLE bindings (
        id uuid PRIMARY KEY,
        rule text NOT NULL,
        target_type text NOT NULL CHECK (target_type IN ('registry', 'cooperative_approach', 'section', 'account')),
        target text NOT NULL,
        params jsonb NOT NULL,
        by_section_administrator boolean NOT NULL,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL,
        journal_sequence bigint NOT NULL REFERENCES configuration_journal
    )
    """,
    "CREATE INDEX bindings_rule ON bindings (rule)",
    """
    CREATE TABLE binding_removals (
        binding_id uuid PRIMARY KEY REFERENCES bindings,
        reason text NOT NULL,
        journal_sequence bigint NOT NULL REFERENCES configuration_journal
    )
    """,
    """
    CREATE TABLE suspensions (
        journal_sequence bigint PRIMARY KEY REFERENCES configuration_journal,
        target_type text NOT NULL CHECK (target_type IN ('rule', 'binding')),
        target text NOT NULL,
        suspended boolean NOT NULL,
        reason text NOT NULL,
        changed_by text NOT NULL,
        changed_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX suspensions_target ON suspensions (target_type, target, journal_sequence DESC)",
    """
    CREATE TABLE evaluations (
        proposal_event_id uuid PRIMARY KEY,
        transaction_id text NOT NULL,
        proposal jsonb NOT NULL,
        verdict jsonb NOT NULL,
        outcome text NOT NULL CHECK (outcome IN ('accept', 'deny')),
        catalogue_sequence bigint NOT NULL,
        evaluated_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX evaluations_transaction ON evaluations (transaction_id, evaluated_at DESC)",
    """
    CREATE TABLE accounts (
        number text PRIMARY KEY,
        type text NOT NULL,
        status text NOT NULL,
        section text,
        cooperative_approach text,
        holder text,
        updated_at timestamptz NOT NULL
    )
    """,
    # Serials first..last of a scope are in `account`, as of the ledger block `block_id`; the
    # newest block wins for every serial, so events applied out of order still converge.
    """
    CREATE TABLE holdings (
        originating_registry text NOT NULL,
        issuing_party text NOT NULL,
        activity_id text NOT NULL,
        vintage int NOT NULL,
        metric text NOT NULL,
        first_serial bigint NOT NULL,
        last_serial bigint NOT NULL CHECK (last_serial >= first_serial),
        account text NOT NULL,
        block_id bigint NOT NULL,
        transaction_id text NOT NULL,
        PRIMARY KEY (originating_registry, issuing_party, activity_id, vintage, metric, first_serial)
    )
    """,
    "CREATE INDEX holdings_account ON holdings (account)",
    """
    CREATE TABLE compliance_checks (
        id uuid PRIMARY KEY,
        requested_by text NOT NULL,
        scope jsonb NOT NULL,
        holdings_checked int NOT NULL,
        violations int NOT NULL,
        checked_at timestamptz NOT NULL
    )
    """,
    """
    CREATE TABLE compliance_violations (
        id uuid PRIMARY KEY,
        rule text NOT NULL,
        version int NOT NULL,
        binding_id uuid NOT NULL,
        account text NOT NULL,
        scope jsonb NOT NULL,
        quantity bigint NOT NULL,
        message text NOT NULL,
        transaction_id text,
        check_id uuid REFERENCES compliance_checks,
        detected_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX compliance_violations_account ON compliance_violations (account, detected_at)",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)
    for table in IMMUTABLE:
        op.execute(
            f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()"
        )
