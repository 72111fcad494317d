"""Bindings: which rules apply where. A rule applies to the whole registry, a cooperative approach,
a Party section or an account.

A transaction has sides, the accounts it moves units out of and into (source and destination;
an issuance has a destination only). The registry and the approaches of its units and accounts
reach every side; a section or an account binding reaches only the side whose account is in that
section or is that account. So a Party's binding never acts on another Party's account: it never
takes units from it and never displaces the registry's or that Party's own binding there.

On each side, when registry administrators bind one rule several times (to the registry and to
the section, say), the most specific of their bindings applies, account before section before
approach before registry, and among equals the oldest; the same holds separately for the bindings
section administrators make. A section administrator's binding adds to the registry
administrators' binding on that side and never replaces it, so a Party cannot lower the registry's
share or loosen its restrictions. A rule therefore applies at most twice per side, once through
each kind of administrator; a supplementary operation acts on the one side it takes from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TARGET_TYPES = ("registry", "cooperative_approach", "section", "account")
SIDES = ("source", "destination")
REGISTRY_TARGET = "*"
SPECIFICITY = {"account": 3, "section": 2, "cooperative_approach": 1, "registry": 0}


@dataclass(frozen=True)
class Binding:
    id: str
    rule: str
    target_type: str
    target: str
    params: Mapping[str, Any] = field(default_factory=dict)
    # Bound by a section administrator: applies only versions that allow it (section_bindable).
    by_section_administrator: bool = False
    created_at: datetime | None = None

    def context(self) -> dict[str, str]:
        return {"id": self.id, "target_type": self.target_type, "target": self.target}


@dataclass(frozen=True)
class Targets:
    """What a transaction (or a holding) can be bound through."""

    approaches: frozenset[str] = frozenset()
    sections: frozenset[str] = frozenset()
    accounts: frozenset[str] = frozenset()

    def keys(self) -> list[tuple[str, str]]:
        return [
            ("registry", REGISTRY_TARGET),
            *(("cooperative_approach", a) for a in sorted(self.approaches)),
            *(("section", s) for s in sorted(self.sections)),
            *(("account", a) for a in sorted(self.accounts)),
        ]

    @classmethod
    def of_accounts(cls, accounts: Iterable[Mapping[str, Any]], approaches: Iterable[str] = ()) -> Targets:
        """From evaluation-context accounts (see context.account_context) and unit approaches."""
        present = [a for a in accounts if a["present"]]
        return cls(
            approaches=frozenset([*approaches, *(a["cooperative_approach"] for a in present)]) - {""},
            sections=frozenset(a["section"] for a in present) - {""},
            accounts=frozenset(a["number"] for a in present) - {""},
        )

    @classmethod
    def sides_of(cls, proposal: Mapping[str, Any]) -> dict[str, Targets]:
        """Per side of a proposal context whose account is present, what reaches that side: every
        approach of the transaction, but only that side's own section and account."""
        approaches = cls.of_accounts([proposal["source"], proposal["destination"]], proposal["approaches"]).approaches
        sides = {}
        for side in SIDES:
            account = proposal[side]
            if account["present"]:
                own = cls.of_accounts([account])
                sides[side] = cls(approaches=approaches, sections=own.sections, accounts=own.accounts)
        return sides


def most_specific(bindings: Iterable[Binding]) -> dict[str, Binding]:
    """Per rule, the binding that applies among those that matched."""
    chosen: dict[str, Binding] = {}
    for b in bindings:
        current = chosen.get(b.rule)
        if current is None or _rank(b) > _rank(current):
            chosen[b.rule] = b
    return chosen


def _rank(b: Binding) -> tuple[int, float, str]:
    created = b.created_at.timestamp() if b.created_at is not None else 0.0
    return (SPECIFICITY[b.target_type], -created, b.id)
