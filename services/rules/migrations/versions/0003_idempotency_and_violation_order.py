"""Client retries of creating POSTs, and the newest-first order of compliance violations.

`idempotency_keys` holds each `Idempotency-Key` a caller sent with a creating POST (a rule version,
a binding, a compliance check), the digest of the request it named and the answer given. The key
is claimed by inserting its row before the change is made, in the change's transaction: a second
request with the key waits on the primary key until the first commits, then finds its answer, so
two racing requests make one record. `status` and `response` are written in that same transaction
(NULL only while it is open, never seen by another). Bookkeeping of the API: not journaled, not
part of the configuration.

`compliance_violations_newest` serves `GET /compliance/violations`, newest first and paged by
(detected_at, id).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE idempotency_keys (
            caller text NOT NULL,
            key text NOT NULL,
            request_digest bytea NOT NULL,
            status int,
            response json,
            created_at timestamptz NOT NULL,
            PRIMARY KEY (caller, key)
        )
        """
    )
    op.execute("CREATE INDEX compliance_violations_newest ON compliance_violations (detected_at DESC, id DESC)")


def downgrade() -> None:
    op.execute("DROP INDEX compliance_violations_newest")
    op.execute("DROP TABLE idempotency_keys")
