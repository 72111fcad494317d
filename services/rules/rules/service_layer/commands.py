"""What administrators send to change the catalogue, validated at the boundary.

The same models read the rule pack file, so a pack says exactly what the API would be sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from registry_contracts.events.rules import ProposalSubmitted
from registry_contracts.timestamps import UtcDatetime
from rules.domain.catalogue import (
    Deny,
    Effect,
    ParamSpec,
    RuleVersion,
    ShareOperation,
    Supplementary,
    Violation,
)

Text = Annotated[str, Field(min_length=1, max_length=1000)]
Reason = Annotated[str, Field(min_length=3, max_length=1000, description="Why: recorded in the journal")]
RuleName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,62}$", examples=["omge-cancellation"])]


class _In(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ParamIn(_In):
    type: Literal["string", "int", "bool", "decimal", "list_string", "list_int"]
    default: Any = None
    description: str = ""


class DenyIn(_In):
    type: Literal["deny"]
    message: Text
    code: str = "rule_denied"


class OperationIn(_In):
    kind: Literal["transfer", "cancellation"]
    take_from: Literal["source", "destination"] = Field(
        description="Whose units the share comes from: destination (source is refused, take_from_source_unsupported)"
    )
    to_account: Text = Field(description="CEL expression giving the account number, e.g. params.adaptation_account")
    share: Text = Field(description='A decimal such as "0.05", or params.<name> of a decimal parameter')
    rounding: Literal["floor", "ceil", "half_up", "half_even"]
    reason: Text


class SupplementaryIn(_In):
    type: Literal["supplementary"]
    operations: list[OperationIn] = Field(min_length=1, max_length=10)


class ViolationIn(_In):
    type: Literal["violation"]
    message: Text


EffectIn = Annotated[DenyIn | SupplementaryIn | ViolationIn, Field(discriminator="type")]


class VersionIn(_In):
    """A new version of a rule (the first version creates the rule)."""

    kind: Literal["business", "compliance"] = "business"
    description: str = Field(default="", max_length=2000)
    expression: str | None = Field(default=None, description="CEL: the rule fires when it is true")
    plugin: str | None = Field(default=None, description="Versioned entry point name of group registry.rules")
    effect: EffectIn
    params: dict[str, ParamIn] = Field(default_factory=dict)
    section_bindable: bool = Field(default=False, description="Section administrators may bind it to their section")
    effective_from: UtcDatetime | None = Field(default=None, description="Default: now")
    retire_at: UtcDatetime | None = None


def to_effect(effect: DenyIn | SupplementaryIn | ViolationIn) -> Effect:
    if isinstance(effect, DenyIn):
        return Deny(effect.message, effect.code)
    if isinstance(effect, ViolationIn):
        return Violation(effect.message)
    return Supplementary(tuple(ShareOperation(**op.model_dump()) for op in effect.operations))


def to_version(rule: str, number: int, spec: VersionIn, now: datetime) -> RuleVersion:
    return RuleVersion(
        rule=rule,
        version=number,
        kind=spec.kind,
        effect=to_effect(spec.effect),
        expression=spec.expression,
        plugin=spec.plugin,
        params={name: ParamSpec(p.type, p.default, p.description) for name, p in spec.params.items()},
        section_bindable=spec.section_bindable,
        effective_from=spec.effective_from or now,
        retire_at=spec.retire_at,
        description=spec.description,
    )


class RetirementIn(_In):
    retire_at: UtcDatetime
    reason: Reason


class BindingIn(_In):
    rule: RuleName
    target_type: Literal["registry", "cooperative_approach", "section", "account"]
    target: str = Field(default="*", min_length=1, max_length=64, description='Approach id, Party, account; "*"')
    params: dict[str, Any] = Field(default_factory=dict)


class ReasonIn(_In):
    reason: Reason


class PreviewIn(ProposalSubmitted):
    """A proposal to evaluate without recording anything (dry run); proposed_at defaults to now."""

    proposed_at: UtcDatetime | None = None


class ComplianceCheckIn(_In):
    section: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    account: str | None = Field(default=None, min_length=1, max_length=40)


class PackRuleIn(VersionIn):
    name: RuleName


class PackIn(_In):
    """A rule pack: rules shipped as data, loaded through the same checks as the API (A6R-38)."""

    pack: RuleName
    version: int = Field(ge=1)
    description: str = ""
    rules: list[PackRuleIn] = Field(min_length=1)
