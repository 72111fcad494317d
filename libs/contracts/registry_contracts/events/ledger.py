"""Events produced by the ledger service, the sole owner of accounts, blocks and transactions.

Codes such as statuses and kinds are plain strings here: their valid values are versioned
reference data (registry_contracts.nomenclatures), not part of the event schema.
"""

from typing import Annotated, Any

from pydantic import Field

from registry_contracts.events.registry import EventPayload, event_type
from registry_contracts.timestamps import UtcDatetime

Text = Annotated[str, Field(min_length=1)]
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 digest, lowercase hex")]


@event_type("ledger.JournalEntryAppended", 1)
class JournalEntryAppended(EventPayload):
    sequence: Annotated[int, Field(ge=0)]
    entry_hash: Sha256Hex
    previous_hash: Sha256Hex | None = Field(description="None only for the first entry of the journal")
    kind: Text
    recorded_at: UtcDatetime
    body: dict[str, Any]


@event_type("ledger.JournalCheckpointSigned", 1)
class JournalCheckpointSigned(EventPayload):
    """A signed Merkle tree head over the journal's first `tree_size` entries, published so that
    it is held outside the ledger's database: one deleted there is still on the journal topic."""

    tree_size: Annotated[int, Field(ge=1)]
    root_hash: Sha256Hex
    signed_at: UtcDatetime
    signature: dict[str, str] = Field(description='{"alg", "kid", "value"}: Ed25519 over the checkpoint message')


@event_type("ledger.TransactionRecorded", 1)
class TransactionRecorded(EventPayload):
    transaction_id: Text
    kind: Text
    status: Text
    initiator: Text
    on_behalf_of: Text | None = Field(description="Impersonated identity (RFC 8693 act), if any")
    operations: list[dict[str, Any]]
    recorded_at: UtcDatetime


@event_type("ledger.TransactionRejected", 1)
class TransactionRejected(EventPayload):
    transaction_id: Text
    kind: Text
    rule: Text = Field(description="Name and version of the rule that rejected the transaction")
    code: Text
    message: Text
    rejected_at: UtcDatetime


@event_type("ledger.AccountStatusChanged", 1)
class AccountStatusChanged(EventPayload):
    account_number: Text
    old_status: Text
    new_status: Text
    changed_by: Text
    changed_at: UtcDatetime
