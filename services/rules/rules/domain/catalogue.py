"""The rule catalogue: rules with versions, each version in force from an instant until it retires
(A6R-38, A6R-39).

Which version applies at an instant: of the versions in force then (effective_from <= at, and at <
retire_at), the highest-numbered. A new version therefore takes over at its effective_from, and an
old one stops applying at its retire_at even if no newer version is in force by then.

The invariant: no change takes effect before every evaluation that could not see it is over. A
verdict names the versions and bindings in force at the proposal's instant, and re-evaluating
(or auditing) at that instant must find the same ones, so a change committed after an evaluation
read the catalogue must not take effect at or before that evaluation's instant. A change's
instants (a version's effective_from and retire_at, a retirement's retire_at, the journal entry
instant from which a binding, its removal or a suspension counts) are taken from the clock, or
refused when earlier than it (validation), while the change holds the configuration lock
exclusively; an evaluation reads the catalogue holding that lock shared, until its transaction
ends (service_layer.service.CatalogueCache). So a change waits for the evaluations in flight and
they for its commit: an evaluation that did not see it ended before its instants were taken. This
holds while proposals are stamped (`proposed_at`) by a clock not ahead of this service's: a
proposal from the future could still be decided before a change that is then in force at it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

RULE_NAME = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
PARAM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
KINDS = ("business", "compliance")


@dataclass(frozen=True)
class Deny:
    """A firing rule refuses the transaction with this message."""

    message: str
    code: str = "rule_denied"


@dataclass(frozen=True)
class ShareOperation:
    """A supplementary operation: a share of the quantity moved from the transaction's destination
    to an account named by a CEL expression (usually a binding parameter)."""

    kind: str  # transfer | cancellation
    take_from: str  # destination (validation refuses source)
    to_account: str  # CEL expression giving an account number
    share: str  # a decimal such as "0.05", or "params.<name>" of a decimal parameter
    rounding: str
    reason: str

    def share_param(self) -> str | None:
        return self.share.removeprefix("params.") if self.share.startswith("params.") else None


@dataclass(frozen=True)
class Supplementary:
    operations: tuple[ShareOperation, ...]


@dataclass(frozen=True)
class Violation:
    """A firing compliance rule reports the holding as a violation with this message (A6R-19)."""

    message: str


Effect = Deny | Supplementary | Violation


@dataclass(frozen=True)
class ParamSpec:
    type: str  # a key of context.PARAM_TYPES
    default: Any = None
    description: str = ""


@dataclass(frozen=True)
class RuleVersion:
    rule: str
    version: int
    kind: str  # business | compliance
    effect: Effect
    expression: str | None = None
    plugin: str | None = None
    # SHA-256 of the plugin's code when the version was saved; None for CEL and for older versions.
    plugin_digest: str | None = None
    params: Mapping[str, ParamSpec] = field(default_factory=dict)
    section_bindable: bool = False
    effective_from: datetime | None = None
    retire_at: datetime | None = None
    description: str = ""

    @property
    def ref(self) -> str:
        return f"{self.rule}@{self.version}"

    @property
    def effect_name(self) -> str:
        return {Deny: "deny", Supplementary: "supplementary", Violation: "violation"}[type(self.effect)]

    def in_force(self, at: datetime) -> bool:
        if self.effective_from is not None and at < self.effective_from:
            return False
        return self.retire_at is None or at < self.retire_at

    def param_types(self) -> dict[str, str]:
        return {name: spec.type for name, spec in self.params.items()}


def version_in_force(versions: Sequence[RuleVersion], at: datetime) -> RuleVersion | None:
    """The version that applies at `at`, or None when none is in force (A6R-39)."""
    candidates = [v for v in versions if v.in_force(at)]
    return max(candidates, key=lambda v: v.version, default=None)


def effect_to_json(effect: Effect) -> dict[str, Any]:
    if isinstance(effect, Deny):
        return {"type": "deny", "message": effect.message, "code": effect.code}
    if isinstance(effect, Violation):
        return {"type": "violation", "message": effect.message}
    return {
        "type": "supplementary",
        "operations": [
            {
                "kind": op.kind,
                "take_from": op.take_from,
                "to_account": op.to_account,
                "share": op.share,
                "rounding": op.rounding,
                "reason": op.reason,
            }
            for op in effect.operations
        ],
    }


def effect_from_json(data: Mapping[str, Any]) -> Effect:
    if data["type"] == "deny":
        return Deny(data["message"], data.get("code", "rule_denied"))
    if data["type"] == "violation":
        return Violation(data["message"])
    return Supplementary(tuple(ShareOperation(**op) for op in data["operations"]))


def definition_to_json(v: RuleVersion) -> dict[str, Any]:
    """What a version says (not when it applies): compared to tell a changed rule from a repeat."""
    return {
        "kind": v.kind,
        "description": v.description,
        "expression": v.expression,
        "plugin": v.plugin,
        "effect": effect_to_json(v.effect),
        "params": {
            name: {"type": p.type, "default": p.default, "description": p.description} for name, p in v.params.items()
        },
        "section_bindable": v.section_bindable,
        # Only where one was recorded: the definitions of earlier versions keep their bytes.
        **({"plugin_digest": v.plugin_digest} if v.plugin_digest else {}),
    }


def version_from_json(
    rule: str, version: int, definition: Mapping[str, Any], effective_from: datetime, retire_at: datetime | None
) -> RuleVersion:
    return RuleVersion(
        rule=rule,
        version=version,
        kind=definition["kind"],
        effect=effect_from_json(definition["effect"]),
        expression=definition.get("expression"),
        plugin=definition.get("plugin"),
        plugin_digest=definition.get("plugin_digest"),
        params={name: ParamSpec(**p) for name, p in (definition.get("params") or {}).items()},
        section_bindable=bool(definition.get("section_bindable")),
        effective_from=effective_from,
        retire_at=retire_at,
        description=definition.get("description", ""),
    )
