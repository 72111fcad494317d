"""Python plugins: rules that CEL cannot express (A6R-38), under the same versioning as CEL rules.

A plugin is registered through the entry point group `registry.rules`; the entry point's name is
the plugin's versioned name (e.g. `first_transfer.v1`), and a rule version names it instead of a
CEL expression. A changed behaviour is a new entry point (`first_transfer.v2`), never an edit of
an old one, so the rule versions recorded for a transaction keep meaning what they meant (A6R-39).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

ENTRY_POINT_GROUP = "registry.rules"


@dataclass(frozen=True)
class PluginOutcome:
    """Whether the rule fires, and for a share, the quantity it is taken of (None: the whole
    transaction's quantity; outside 0 to that quantity, the rule fails and denies as a rule_error)."""

    fires: bool
    basis: int | None = None


class RulePlugin(Protocol):
    """What an entry point of group `registry.rules` loads (a class, instantiated once, or an object)."""

    # Parameter types the plugin reads from its binding (see context.PARAM_TYPES).
    params: Mapping[str, str]
    # Rule kinds the plugin serves; only "business" for now.
    kinds: frozenset[str]

    def evaluate(self, proposal: Mapping[str, Any], params: Mapping[str, Any]) -> PluginOutcome:
        """Decide on the evaluation context's `proposal` (see context.proposal_context). Pure:
        the same input must always give the same outcome, so that a replay agrees."""
        ...
