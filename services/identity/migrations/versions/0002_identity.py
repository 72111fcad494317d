"""Identity's own tables: users, profiles and their history, verifications, credentials, sessions,
grants, external systems and the hash-chained log.

Records (the log, verifications, external system calls and the profile history) are insert-only:
a trigger refuses UPDATE and DELETE. The one exception is anonymisation (A6R-49): a profile history
row may be rewritten, but only to the tombstone, with every other column unchanged.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"

IMMUTABLE = ("identity_log", "identity_verifications", "external_calls")

STATEMENTS = [
    """
    CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'records in %.% are immutable: % refused', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END $$
    """,
    """
    CREATE FUNCTION only_tombstone() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND NEW.data = '{"anonymised": true}'::jsonb
           AND (NEW.user_id, NEW.version, NEW.change, NEW.request_id, NEW.changed_by, NEW.changed_at)
               IS NOT DISTINCT FROM
               (OLD.user_id, OLD.version, OLD.change, OLD.request_id, OLD.changed_by, OLD.changed_at) THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'profile history is kept forever: % refused (only anonymisation may rewrite it)', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END $$
    """,
    """
    CREATE TABLE users (
        id uuid PRIMARY KEY,
        email text,
        email_key text UNIQUE,
        person_key text UNIQUE,
        date_of_birth date,
        nationality text,
        access text NOT NULL DEFAULT 'active' CHECK (access IN ('active', 'suspended')),
        verification text NOT NULL DEFAULT 'unverified' CHECK (verification IN ('unverified', 'verified', 'rejected')),
        failed_logins int NOT NULL DEFAULT 0,
        locked_at timestamptz,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL,
        anonymised_at timestamptz
    )
    """,
    "CREATE INDEX users_created ON users (created_at, id)",
    """
    CREATE TABLE profiles (
        user_id uuid PRIMARY KEY REFERENCES users,
        version int NOT NULL,
        name text NOT NULL,
        affiliations jsonb NOT NULL,
        contacts jsonb NOT NULL,
        updated_at timestamptz NOT NULL
    )
    """,
    """
    CREATE TABLE profile_history (
        user_id uuid NOT NULL REFERENCES users,
        version int NOT NULL,
        data jsonb NOT NULL,
        change text NOT NULL,
        request_id uuid,
        changed_by text NOT NULL,
        changed_at timestamptz NOT NULL,
        PRIMARY KEY (user_id, version)
    )
    """,
    """
    CREATE TRIGGER profile_history_kept BEFORE UPDATE OR DELETE ON profile_history
        FOR EACH ROW EXECUTE FUNCTION only_tombstone()
    """,
    """
    CREATE TABLE profile_change_requests (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users,
        fields jsonb NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
        requested_by text NOT NULL,
        requested_at timestamptz NOT NULL,
        decided_by text,
        decided_at timestamptz
    )
    """,
    "CREATE INDEX profile_change_requests_status ON profile_change_requests (status, requested_at, id)",
    """
    CREATE TABLE identity_verifications (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users,
        outcome text NOT NULL CHECK (outcome IN ('verified', 'rejected')),
        evidence jsonb NOT NULL,
        verified_by text NOT NULL,
        verified_at timestamptz NOT NULL
    )
    """,
    # One identity document verifies one user (A6R-15); cleared by anonymisation.
    "CREATE TABLE verified_documents (document_key text PRIMARY KEY, user_id uuid NOT NULL REFERENCES users)",
    """
    CREATE TABLE activations (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users,
        token_hash bytea NOT NULL UNIQUE,
        code_hash bytea NOT NULL,
        expires_at timestamptz NOT NULL,
        failed_codes int NOT NULL DEFAULT 0,
        redeemed_at timestamptz,
        cancelled_at timestamptz,
        enrolment_hash bytea UNIQUE,
        enrolment_expires_at timestamptz,
        totp_sealed bytea,
        completed_at timestamptz,
        issued_by text NOT NULL,
        issued_at timestamptz NOT NULL
    )
    """,
    """
    CREATE TABLE credentials (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users,
        kind text NOT NULL CHECK (kind IN ('password', 'totp', 'webauthn', 'recovery_codes')),
        status text NOT NULL CHECK (status IN ('active', 'revoked')),
        secret text,
        sealed bytea,
        last_step bigint,
        webauthn_id bytea UNIQUE,
        public_key bytea,
        sign_count bigint,
        label text,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL,
        revoked_by text,
        revoked_at timestamptz
    )
    """,
    "CREATE INDEX credentials_user ON credentials (user_id, kind) WHERE status = 'active'",
    """
    CREATE UNIQUE INDEX one_active_secret ON credentials (user_id, kind)
        WHERE status = 'active' AND kind IN ('password', 'totp', 'recovery_codes')
    """,
    """
    CREATE TABLE recovery_codes (
        credential_id uuid NOT NULL REFERENCES credentials,
        code_hash bytea NOT NULL,
        used_at timestamptz,
        PRIMARY KEY (credential_id, code_hash)
    )
    """,
    """
    CREATE TABLE sessions (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users,
        actor uuid REFERENCES users,
        status text NOT NULL CHECK (status IN ('pending', 'active', 'revoked')),
        challenge_hash bytea UNIQUE,
        failed_mfa int NOT NULL DEFAULT 0,
        webauthn_challenge bytea,
        client text NOT NULL,
        amr text[] NOT NULL,
        acr text,
        auth_time timestamptz,
        created_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz,
        revoke_reason text
    )
    """,
    "CREATE INDEX sessions_user ON sessions (user_id) WHERE status <> 'revoked'",
    """
    CREATE TABLE refresh_tokens (
        token_hash bytea PRIMARY KEY,
        session_id uuid NOT NULL REFERENCES sessions,
        status text NOT NULL CHECK (status IN ('active', 'rotated', 'revoked')),
        issued_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        used_at timestamptz
    )
    """,
    "CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id)",
    """
    CREATE TABLE webauthn_challenges (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users,
        purpose text NOT NULL,
        challenge bytea NOT NULL,
        expires_at timestamptz NOT NULL,
        used_at timestamptz
    )
    """,
    """
    CREATE TABLE login_throttle (
        client text PRIMARY KEY,
        failures int NOT NULL,
        last_failure timestamptz NOT NULL,
        blocked_until timestamptz
    )
    """,
    """
    CREATE TABLE grants (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL,
        role text NOT NULL,
        section text,
        account text,
        cooperative_approach text,
        status text NOT NULL CHECK (status IN ('active', 'suspended', 'revoked')),
        suspended_level int,
        granted_by text NOT NULL,
        granted_at timestamptz NOT NULL,
        changed_by text,
        changed_at timestamptz,
        reason text
    )
    """,
    "CREATE INDEX grants_user ON grants (user_id, status)",
    "CREATE INDEX grants_section ON grants (section, id)",
    """
    CREATE UNIQUE INDEX one_live_grant ON grants
        (user_id, role, coalesce(section, ''), coalesce(account, ''), coalesce(cooperative_approach, ''))
        WHERE status <> 'revoked'
    """,
    """
    CREATE TABLE external_systems (
        id uuid PRIMARY KEY,
        name text NOT NULL UNIQUE,
        public_jwk jsonb NOT NULL,
        risk_assessment jsonb NOT NULL,
        status text NOT NULL CHECK (status IN ('active', 'disabled')),
        registered_by text NOT NULL,
        registered_at timestamptz NOT NULL
    )
    """,
    """
    CREATE TABLE client_assertions (
        client_id uuid NOT NULL,
        jti text NOT NULL,
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (client_id, jti)
    )
    """,
    """
    CREATE TABLE external_calls (
        id bigserial PRIMARY KEY,
        client_id text NOT NULL,
        at timestamptz NOT NULL,
        endpoint text NOT NULL,
        outcome text NOT NULL,
        detail text
    )
    """,
    "CREATE INDEX external_calls_client ON external_calls (client_id, id)",
    """
    CREATE TABLE outbound_messages (
        id bigserial PRIMARY KEY,
        user_id uuid NOT NULL,
        channel text NOT NULL,
        address text NOT NULL,
        purpose text NOT NULL,
        body text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )
    """,
    """
    CREATE TABLE identity_log (
        sequence bigint PRIMARY KEY,
        at timestamptz NOT NULL,
        kind text NOT NULL,
        actor text NOT NULL,
        on_behalf_of text,
        subject text,
        data jsonb NOT NULL,
        hash bytea NOT NULL
    )
    """,
    "CREATE INDEX identity_log_subject ON identity_log (subject, sequence)",
    "CREATE INDEX identity_log_kind ON identity_log (kind, sequence)",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)
    for table in IMMUTABLE:
        op.execute(
            f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_change()"
        )
