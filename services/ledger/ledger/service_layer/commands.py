"""The ledger's commands: what a client proposes, validated at the boundary.

A command is also exactly what the journal records as the transaction's input (A6R-48 d), and
what `replay` feeds back through the same handlers.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from ledger.domain.model import AccountStatus, AccountType, SectionStatus, require_section_fits, require_text
from registry_contracts.serials import MAX_SERIAL, RECORDED_VINTAGES

Party = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 3166-1 alpha-3 code")]
ApproachId = Annotated[str, Field(pattern=r"^CA[0-9]{4}$", description="Cooperative approach id, e.g. CA0001")]
RegistryId = Annotated[str, Field(pattern=r"^[A-Z]{3}[0-9]{2}$", description="Registry id, e.g. CHE01")]
AccountNumber = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Z0-9-]+$")]
Serial = Annotated[int, Field(ge=1, le=MAX_SERIAL)]
Quantity = Annotated[int, Field(ge=1, le=MAX_SERIAL)]
Text = Annotated[str, Field(min_length=1, max_length=200)]
Vintage = Annotated[int, Field(ge=RECORDED_VINTAGES[0], le=RECORDED_VINTAGES[1])]
# Up to 1,000 ranges a transfer names: a resolved implicit selection (issue 5 saga) names every
# range it takes, so a selection needing more blocks is refused (saga.resolved).
MAX_RANGES = 1000


def _holder(value: str) -> str:
    # The account's own rule (model.Account), checked here so a bad holder is a 422, not a failed approval.
    require_text(value, "holder")
    return value


def _uuid(value: str) -> str:
    # Kept as the text given (the journal records it so) and looked up as text: one id, one text.
    # Python parses "{...}", "urn:uuid:..." and upper case as the same id, which the lookups of
    # the text would not find (a transfer reversed twice under two spellings of its id).
    if str(uuid.UUID(value)) != value:
        raise ValueError("give the id in its standard form: lower-case hexadecimal, 8-4-4-4-12, with hyphens")
    return value


Holder = Annotated[Text, AfterValidator(_holder)]
UuidText = Annotated[str, Field(min_length=36, max_length=36), AfterValidator(_uuid)]


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CreateSection(Command):
    kind: Literal["create_section"] = "create_section"
    party: Party
    name: Text


class ChangeSectionStatus(Command):
    """Registry administrators suspend a section and make it active again (issue 7)."""

    kind: Literal["change_section_status"] = "change_section_status"
    party: Party
    status: SectionStatus
    reason: Text


class CreateCooperativeApproach(Command):
    kind: Literal["create_cooperative_approach"] = "create_cooperative_approach"
    id: ApproachId
    name: Text
    parties: list[Party] = Field(min_length=1, max_length=200)


class OpenAccount(Command):
    """Registry administrators open accounts directly (service accounts have no section); from rule
    set 5 a section's administrators open its issuance, holding and cancellation accounts (A6R-56 a)."""

    kind: Literal["open_account"] = "open_account"
    holder: Holder
    section: Party | None = None
    cooperative_approach: ApproachId | None = None
    type: AccountType

    @model_validator(mode="after")
    def _section_fits(self) -> OpenAccount:
        require_section_fits(self.type, self.section)
        return self


class ApplyForAccount(Command):
    """An authenticated user applies; a section or registry administrator decides (A6R-41)."""

    kind: Literal["apply_for_account"] = "apply_for_account"
    holder: Holder
    section: Party
    cooperative_approach: ApproachId | None = None
    type: AccountType


class DecideApplication(Command):
    kind: Literal["decide_application"] = "decide_application"
    application_id: UuidText
    approve: bool
    reason: Text | None = None


class ChangeAccountStatus(Command):
    kind: Literal["change_account_status"] = "change_account_status"
    account: AccountNumber
    status: AccountStatus
    reason: Text


class SerialScope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    originating_registry: RegistryId
    issuing_party: Party
    activity_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._/-]+$")]
    vintage: Vintage
    metric: Annotated[str, Field(min_length=1, max_length=32)] = "tCO2e"


class IssueUnits(Command):
    kind: Literal["issue_units"] = "issue_units"
    account: AccountNumber
    scope: SerialScope
    quantity: Quantity
    # Omitted: the registry continues after the highest serial issued in the scope.
    first_serial: Serial | None = None
    cooperative_approach: ApproachId | None = None
    first_transferring_party: Party
    sectors: list[Text] = Field(default_factory=list, max_length=20)
    activity_types: list[Text] = Field(default_factory=list, max_length=20)
    underlying_registry: Text | None = None
    underlying_first: Text | None = None
    underlying_last: Text | None = None


class SerialRangeRef(BaseModel):
    """An explicit range (A6R-52): serials first..last of one scope, all held by the source."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    scope: SerialScope
    first: Serial
    last: Serial

    @model_validator(mode="after")
    def _ordered(self) -> SerialRangeRef:
        if self.first > self.last:
            raise ValueError(f"first serial {self.first} is after last serial {self.last}")
        return self


class Selection(BaseModel):
    """An implicit selection (A6R-52): constraints on the units, and how many."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    quantity: Quantity
    issuing_party: Party | None = None
    activity_id: str | None = Field(default=None, max_length=64)
    vintage_from: Vintage | None = None
    vintage_to: Vintage | None = None
    cooperative_approach: ApproachId | None = None
    metric: str | None = Field(default=None, max_length=32)


class Units(BaseModel):
    """Which units a transfer moves: explicit ranges or one implicit selection, not both."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    ranges: list[SerialRangeRef] | None = Field(default=None, min_length=1, max_length=MAX_RANGES)
    selection: Selection | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Units:
        if (self.ranges is None) == (self.selection is None):
            raise ValueError("give either 'ranges' (explicit) or 'selection' (implicit), exactly one")
        return self


class TransferUnits(Command):
    kind: Literal["transfer_units"] = "transfer_units"
    source: AccountNumber
    destination: AccountNumber
    units: Units


class CorrectiveTransfer(Command):
    """A6R-55: reversal of a transfer (a), administrative cancellation (b) or holding (c)."""

    kind: Literal["corrective_transfer"] = "corrective_transfer"
    correction: Literal["reversal", "administrative_cancellation", "administrative_holding"]
    corrects: UuidText | None = None
    source: AccountNumber | None = None
    destination: AccountNumber | None = None
    units: Units | None = None
    reason: Text


class ExternalTransferOut(Command):
    """Units leave for another registry: they move into the proxy account (A6R-54)."""

    kind: Literal["external_transfer_out"] = "external_transfer_out"
    source: AccountNumber
    destination_registry: RegistryId
    destination_account: Text
    units: Units


class IncomingBlock(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    scope: SerialScope
    first: Serial
    last: Serial
    cooperative_approach: ApproachId | None = None
    first_transferring_party: Party
    sectors: list[Text] = Field(default_factory=list, max_length=20)
    activity_types: list[Text] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _ordered(self) -> IncomingBlock:
        if self.first > self.last:
            raise ValueError(f"first serial {self.first} is after last serial {self.last}")
        return self


class ExternalTransferIn(Command):
    """Units arrive from another registry: generated in the proxy account unless they are ours
    coming back, then transferred to the destination (A6R-54)."""

    kind: Literal["external_transfer_in"] = "external_transfer_in"
    origin_registry: RegistryId
    origin_account: Text
    destination: AccountNumber
    blocks: list[IncomingBlock] = Field(min_length=1, max_length=100)


AnyCommand = Annotated[
    CreateSection
    | ChangeSectionStatus
    | CreateCooperativeApproach
    | OpenAccount
    | ApplyForAccount
    | DecideApplication
    | ChangeAccountStatus
    | IssueUnits
    | TransferUnits
    | CorrectiveTransfer
    | ExternalTransferOut
    | ExternalTransferIn,
    Field(discriminator="kind"),
]
