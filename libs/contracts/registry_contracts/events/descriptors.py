"""Descriptor records (A6R-45) as registries exchange them, and the descriptors service's event.

- `DescriptorDocument`: one authorization or first-transfer marker as its originating registry
  signed it. The signature is a compact JWS (RFC 7515) whose payload is the document's RFC 8785
  canonical JSON, with protected header `{"alg": "Ed25519", "kid": <key id>, "typ": "a6r-descriptor+jws"}`.
  Peers verify it against the originating registry's registered keys before storing it.
- `descriptors.DescriptorIssued` v1, topic `descriptors.outbound`, key = the cooperative approach
  (or the issuing Party when there is none): every descriptor this registry originates, signed, for
  the interop gateway to push to the peer registries of the approach (A6R-53).

Codes are plain strings here; the valid values are listed in the field descriptions.
"""

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from registry_contracts.events.registry import EventPayload, event_type
from registry_contracts.events.rules import SerialScope, Vintage
from registry_contracts.timestamps import UtcDatetime

Text = Annotated[str, Field(min_length=1)]
# A descriptor's id as registries store it (a uuid column): lowercase and hyphenated, so that the
# signed text and the stored id are the same.
DescriptorId = Annotated[
    str,
    Field(
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        description="A UUID, lowercase and hyphenated",
        json_schema_extra={"format": "uuid"},
    ),
]
Serial = Annotated[int, Field(ge=1, le=2**53 - 1)]
Quantity = Annotated[int, Field(ge=1, le=2**53 - 1)]
Dedication = Literal["ndc", "oimp", "ndc_oimp"]
OimpFirstTransfer = Literal["authorization", "issuance", "use_or_cancellation"]
MarkerBasis = Literal[
    "international_transfer",
    "external_transfer",
    "oimp_authorization",
    "oimp_issuance",
    "oimp_use_or_cancellation",
    "reissue",
]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DescriptorUnits(_Part):
    """Serials first..last of one scope that a descriptor is about."""

    scope: SerialScope
    first: Serial
    last: Serial


class AuthorizationConditions(_Part):
    """The units an authorization covers when it names conditions rather than units (A6R-45)."""

    cooperative_approach: Text | None = Field(default=None, description="Units issued under this approach")
    activity_id: Text | None = None
    vintage_from: Vintage | None = None
    vintage_to: Vintage | None = None
    metric: Text | None = None
    quantity_cap: Quantity | None = Field(
        default=None, description="At most this many units: the first matching units issued while it applies"
    )


class AuthorizationBody(_Part):
    dedication: Dedication = Field(description="ndc, oimp or ndc_oimp")
    oimp_first_transfer: OimpFirstTransfer | None = Field(
        default=None, description="For OIMP: the event the authorizing Party chose as first transfer"
    )
    units: list[DescriptorUnits] = Field(default_factory=list, description="Specific existing units")
    conditions: AuthorizationConditions | None = None


class FirstTransferBody(_Part):
    units: list[DescriptorUnits] = Field(min_length=1)
    transferred_at: UtcDatetime = Field(description="When the event constituting the first transfer happened")
    party: Text = Field(description="ISO 3166-1 alpha-3 of the first-transferring Party")
    basis: MarkerBasis
    transaction_id: Text | None = Field(default=None, description="The ledger transaction that constituted it")
    authorization_id: Text | None = Field(default=None, description="The authorization that constituted it (OIMP)")
    reason: Text | None = None


class DescriptorDocument(_Part):
    """What the originating registry signs: immutable; a correction is a new document superseding it."""

    descriptor_id: DescriptorId
    kind: Literal["authorization", "first_transfer"]
    origin_registry: Text = Field(description="Registry id (common nomenclature) of the signing registry")
    issuing_party: Text = Field(description="ISO 3166-1 alpha-3 of the Party the descriptor is issued for")
    cooperative_approach: Text | None = None
    created_at: UtcDatetime
    applicable_from: UtcDatetime
    supersedes: DescriptorId | None = Field(default=None, description="The earlier descriptor this one replaces")
    issued_by: Text = Field(description="The user or system that issued it; 'registry' when automatic")
    authorization: AuthorizationBody | None = None
    first_transfer: FirstTransferBody | None = None

    @model_validator(mode="after")
    def _well_formed(self) -> Self:
        # A receiving registry stores the ranges and the supersession as they are: refuse what it
        # could not store, at the contract.
        body = self.authorization or self.first_transfer
        for u in body.units if body else []:
            if u.first > u.last:
                raise ValueError(f"serials {u.first}-{u.last}: first is after last")
        if self.supersedes == self.descriptor_id:
            raise ValueError("a descriptor cannot supersede itself")
        return self


@event_type("descriptors.DescriptorIssued", 1)
class DescriptorIssued(EventPayload):
    """A descriptor this registry originated, signed, for push to the approach's peer registries."""

    descriptor_id: Text
    kind: Literal["authorization", "first_transfer"]
    origin_registry: Text
    issuing_party: Text
    cooperative_approach: Text | None = None
    applicable_from: UtcDatetime
    sequence: Annotated[int, Field(ge=1)] = Field(description="Position in the originating registry's pull feed")
    jws: Text = Field(description="Compact JWS over the RFC 8785 canonical DescriptorDocument")
