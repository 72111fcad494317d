"""The proposal-verdict saga between the ledger and the rules service, and the rules service's own events.

- `rules.ProposalSubmitted` v1: the ledger publishes each proposed unit transaction (issuance,
  transfer, correction, external transfer) to topic `ledger.proposals`, key = transaction id, with
  everything a rule may look at (A6R-37, A6R-38 a). The ledger resolves implicit selections first,
  so `units` always names serial ranges.
- `rules.VerdictGiven` v1: the rules service answers on topic `rules.verdicts`, key = transaction
  id: the outcome, each rule and version it applied (A6R-39), the reasons of a denial, the rules a
  correction breaks (A6R-55), and the supplementary operations the ledger records atomically with
  the transaction (A6R-38 b), with their rounding stated.
- `rules.ConfigurationChanged` v1 (topic `rules.configuration`, key `journal`): each entry of the
  rules service's hash-chained configuration journal (catalogue, bindings, suspensions: A6R-17).
- `rules.ComplianceViolation` v1 (topic `rules.compliance`, key = account number): an end state a
  compliance rule forbids (A6R-19), with the transaction that caused it.

Codes (kinds, account types, statuses) are plain strings: their valid values are nomenclatures.
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from registry_contracts.events.registry import EventPayload, event_type
from registry_contracts.serials import MAX_VINTAGE, MIN_VINTAGE
from registry_contracts.timestamps import UtcDatetime

Text = Annotated[str, Field(min_length=1)]
Serial = Annotated[int, Field(ge=1, le=2**53 - 1)]
Quantity = Annotated[int, Field(ge=1, le=2**53 - 1)]
Vintage = Annotated[int, Field(ge=MIN_VINTAGE, le=MAX_VINTAGE, description="A four-digit calendar year")]
Decimal = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?$", description="Exact decimal number, e.g. 0.05")]
Rounding = Literal["floor", "ceil", "half_up", "half_even"]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SerialScope(_Part):
    """What identifies a serial range: units of one scope share these (A6R-40)."""

    originating_registry: Text
    issuing_party: Text
    activity_id: Text
    vintage: Vintage
    metric: Text


class UnitRange(_Part):
    """Serials first..last of one scope that the transaction issues or moves, with their metadata."""

    scope: SerialScope
    first: Serial
    last: Serial
    cooperative_approach: Text | None = None
    first_transferring_party: Text | None = None
    sectors: list[Text] = Field(default_factory=list)
    activity_types: list[Text] = Field(default_factory=list)


class AccountView(_Part):
    """An account as the ledger holds it when the transaction is proposed (A6R-41)."""

    number: Text
    type: Text
    status: Text
    section: Text | None = Field(
        description="ISO 3166-1 alpha-3 of the account's Party section; None for registry accounts"
    )
    cooperative_approach: Text | None = None
    holder: Text | None = None


class GrantView(_Part):
    """One of the initiator's verified grants (A6R-37 c: initiation by user authorizations)."""

    role: Text
    section: Text | None = None
    account: Text | None = None
    cooperative_approach: Text | None = None


class AuthorizationView(_Part):
    """The authorization descriptor in force for some units (A6R-45)."""

    descriptor_id: Text
    dedication: Text = Field(description="ndc, oimp or ndc_oimp")
    authorized_by: Text = Field(description="ISO 3166-1 alpha-3 of the authorizing Party")
    applicable_from: UtcDatetime


class FirstTransferView(_Part):
    """The first-transfer marker in force for some units (A6R-45, A6R-55: the latest marker applies)."""

    descriptor_id: Text
    transferred_at: UtcDatetime
    party: Text | None = None


class UnitDescriptors(_Part):
    """The descriptor records in force, at proposal time, for serials first..last of a scope."""

    scope: SerialScope
    first: Serial
    last: Serial
    authorization: AuthorizationView | None = None
    first_transfer: FirstTransferView | None = None


class ExternalCounterpart(_Part):
    """The other registry of an external transfer (A6R-54)."""

    registry: Text
    account: Text | None = None


@event_type("rules.ProposalSubmitted", 1)
class ProposalSubmitted(EventPayload):
    """A unit transaction the ledger will record only with an accepting verdict (A6R-47 step 2)."""

    transaction_id: Text = Field(description="The client's transaction id; also the Kafka key")
    kind: Text = Field(description="issuance, transfer, correction, external_transfer_out or external_transfer_in")
    command: Text = Field(description="The ledger command proposed, e.g. transfer_units")
    quantity: Quantity
    units: list[UnitRange] = Field(min_length=1)
    source: AccountView | None = Field(
        description="None for issuance; for an incoming external transfer, the proxy account its units are "
        "generated in (A6R-54)"
    )
    destination: AccountView | None = Field(description="For issuance: the account the units are issued into")
    initiator: Text
    on_behalf_of: Text | None = Field(default=None, description="Impersonated identity (RFC 8693 act), if any")
    initiator_grants: list[GrantView] = Field(default_factory=list)
    corrects: Text | None = Field(default=None, description="Corrections (A6R-55): the transaction corrected")
    external: ExternalCounterpart | None = None
    descriptors: list[UnitDescriptors] = Field(
        default_factory=list, description="Descriptor records in force for the units; empty until descriptors exist"
    )
    proposed_at: UtcDatetime = Field(description="The instant whose rule versions apply (A6R-39)")


class AppliedRule(_Part):
    """One rule version the verdict considered, through the binding that made it apply."""

    rule: Text
    version: Annotated[int, Field(ge=1)]
    binding_id: Text
    target_type: Text = Field(description="registry, cooperative_approach, section or account")
    target: Text
    effect: Literal["deny", "supplementary"]
    fired: bool
    skipped: Text | None = Field(default=None, description="Why the effect was not applied, e.g. correction (A6R-55)")


class Denial(_Part):
    rule: Text
    version: Annotated[int, Field(ge=1)]
    code: Text
    message: Text


class SupplementaryOperation(_Part):
    """An operation the ledger records in the same transaction, after the main one (A6R-38 b)."""

    sequence: Annotated[int, Field(ge=1)] = Field(description="Order in which the ledger applies the operations")
    kind: Literal["transfer", "cancellation"]
    from_account: Text
    to_account: Text
    quantity: Quantity
    basis: Quantity = Field(description="The quantity the share was taken of")
    share: Decimal
    exact_quantity: Decimal = Field(description="basis x share before rounding")
    rounding: Rounding
    units: Literal["moved_units"] = Field(
        default="moved_units",
        description="Take the units out of the serial ranges the main operation moved, highest serials first",
    )
    reason: Text
    rule: Text
    rule_version: Annotated[int, Field(ge=1)]
    binding_id: Text


class VerdictSignature(_Part):
    """An Ed25519 signature by the rules service's verdict key (registry_contracts.verdicts)."""

    alg: Literal["Ed25519"]
    kid: Text
    value: Text


@event_type("rules.VerdictGiven", 1)
class VerdictGiven(EventPayload):
    """The rules service's answer to one proposal: record it (with its supplementary operations) or reject it."""

    transaction_id: Text
    outcome: Literal["accept", "deny"]
    rules: list[AppliedRule]
    denials: list[Denial] = Field(description="Why the transaction is denied; empty when accepted")
    broken_rules: list[Denial] = Field(description="Corrections only (A6R-55): rules it breaks, not enforced")
    supplementary_operations: list[SupplementaryOperation]
    proposed_at: UtcDatetime
    evaluated_at: UtcDatetime
    catalogue_sequence: Annotated[int, Field(ge=0)] = Field(description="Configuration journal head evaluated against")
    proposal_digest: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 of the ProposalSubmitted payload answered (registry_contracts.verdicts)",
    )
    signature: VerdictSignature | None = Field(
        default=None, description="The rules service's signature over the payload without it"
    )


@event_type("rules.ConfigurationChanged", 1)
class ConfigurationChanged(EventPayload):
    """An entry of the rules configuration journal: hash-chained, insert-only (A6R-17, A6R-39)."""

    sequence: Annotated[int, Field(ge=1)]
    entry_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    previous_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    kind: Text
    recorded_at: UtcDatetime
    body: dict[str, Any]


@event_type("rules.ComplianceViolation", 1)
class ComplianceViolation(EventPayload):
    """A holding that a compliance rule forbids (A6R-19)."""

    violation_id: Text
    rule: Text
    version: Annotated[int, Field(ge=1)]
    binding_id: Text
    account: Text
    scope: SerialScope
    quantity: Annotated[int, Field(ge=0)]
    message: Text
    transaction_id: Text | None = Field(description="The recorded transaction that brought the holding about")
    check_id: Text | None = Field(default=None, description="The on-demand check that found it, if any")
    detected_at: UtcDatetime
