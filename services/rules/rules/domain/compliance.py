"""Compliance rules (A6R-19): conditions on the end state of the data, not on transactions.

A compliance rule is checked on holdings: one account's units of one serial scope. It fires when
the holding is one the registry (or a Party, in its section) does not permit, e.g.
`holding.account.type == "holding" && holding.account.section == "GHA" && holding.vintage < 2021`.
Bindings work as for business rules, through the holding's account: the registry, the account's
cooperative approach and section, or the account itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import cel

from rules.domain.bindings import Targets
from rules.domain.catalogue import RuleVersion, Violation
from rules.domain.evaluation import Applicable, Snapshot, fire, set_rule_variables
from rules.domain.validation import binding_params


@dataclass(frozen=True)
class Found:
    """A holding a compliance rule forbids."""

    app: Applicable
    message: str

    @property
    def version(self) -> RuleVersion:
        return self.app.version


def check_holding(snapshot: Snapshot, holding: Mapping[str, Any], *, at: datetime) -> list[Found]:
    """The violations of one holding (context.holding_context) under the rules in force at `at`."""
    if holding["quantity"] <= 0:
        return []  # an account holds nothing of this scope: no end state to forbid
    ctx = cel.Context({"holding": holding, "now": at})
    found = []
    for app in snapshot.applicable("compliance", {"holding": Targets.of_accounts([holding["account"]])}, at):
        v, b = app.version, app.binding
        if b.by_section_administrator and not v.section_bindable:
            continue
        assert isinstance(v.effect, Violation)
        try:
            params = binding_params(v.params, b.params)
            set_rule_variables(ctx, v, b, params)
            fires = fire(snapshot, v, ctx, holding, params).fires
        except Exception as exc:
            # Reported, not hidden: an end state nobody could check is itself worth a look.
            found.append(Found(app, f"rule {v.ref} could not be evaluated: {exc}"))
            continue
        if fires:
            found.append(Found(app, v.effect.message))
    return found
