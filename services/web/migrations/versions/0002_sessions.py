"""The web service's own tables: server-side sessions, and the account applications submitted
through the web (the ledger has no listing of pending applications yet).

A session row is keyed by the SHA-256 of the random session id: the cookie holds the id, the
database only its hash, so a copy of the table opens no session.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"

STATEMENTS = [
    """
    CREATE TABLE sessions (
        id_hash bytea PRIMARY KEY,
        csrf text NOT NULL,
        data jsonb NOT NULL DEFAULT '{}'::jsonb,
        created_at timestamptz NOT NULL,
        last_seen_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        absolute_expires_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX sessions_expiry ON sessions (expires_at)",
    """
    CREATE TABLE applications (
        application_id uuid PRIMARY KEY,
        section text NOT NULL,
        holder text NOT NULL,
        type text NOT NULL,
        cooperative_approach text,
        applicant text NOT NULL,
        applicant_name text NOT NULL,
        submitted_at timestamptz NOT NULL,
        decided_at timestamptz,
        approved boolean,
        account text
    )
    """,
    "CREATE INDEX applications_pending ON applications (section, submitted_at) WHERE decided_at IS NULL",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)
