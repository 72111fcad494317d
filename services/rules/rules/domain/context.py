"""What a rule sees: the declared schema of its evaluation context, and the context itself.

A business rule sees `proposal` (the proposed transaction, A6R-37 and A6R-38 a), `now` (the instant
the rules are selected at, the proposal's `proposed_at`), `binding` (what bound the rule) and
`params` (the binding's parameters). A compliance rule (A6R-19) sees `holding` instead of
`proposal`: one account's units of one serial scope after a recorded transaction.

The context has no nulls: an absent account is an account with `present == false` and empty
strings, an absent text is "". So `proposal.source.section == "GHA"` is simply false for an
issuance, instead of an evaluation error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rules.domain.cel_types import BOOL, INT, STRING, TIMESTAMP, CelType, list_of, obj

ACCOUNT = obj(
    "account",
    {
        "present": BOOL,
        "number": STRING,
        "type": STRING,
        "status": STRING,
        "section": STRING,
        "cooperative_approach": STRING,
        "holder": STRING,
    },
)
_SCOPE = {
    "originating_registry": STRING,
    "issuing_party": STRING,
    "activity_id": STRING,
    "vintage": INT,
    "metric": STRING,
}
UNIT = obj(
    "unit",
    {
        "first": INT,
        "last": INT,
        "quantity": INT,
        **_SCOPE,
        "cooperative_approach": STRING,
        "first_transferring_party": STRING,
        "sectors": list_of(STRING),
        "activity_types": list_of(STRING),
    },
)
DESCRIPTOR = obj(
    "descriptor",
    {
        "first": INT,
        "last": INT,
        "quantity": INT,
        **_SCOPE,
        "authorized": BOOL,
        "authorization_id": STRING,
        "dedication": STRING,
        "authorized_by": STRING,
        "first_transferred": BOOL,
        "first_transfer_id": STRING,
    },
)
GRANT = obj("grant", {"role": STRING, "section": STRING, "account": STRING, "cooperative_approach": STRING})
PROPOSAL = obj(
    "proposal",
    {
        "transaction_id": STRING,
        "kind": STRING,
        "command": STRING,
        "quantity": INT,
        "proposed_at": TIMESTAMP,
        "initiator": STRING,
        "on_behalf_of": STRING,
        "initiator_grants": list_of(GRANT),
        "source": ACCOUNT,
        "destination": ACCOUNT,
        "units": list_of(UNIT),
        "approaches": list_of(STRING),
        "vintages": list_of(INT),
        "corrects": STRING,
        "external_registry": STRING,
        "external_account": STRING,
        "descriptors": list_of(DESCRIPTOR),
    },
)
HOLDING = obj("holding", {"account": ACCOUNT, **_SCOPE, "quantity": INT})
BINDING = obj("binding", {"id": STRING, "target_type": STRING, "target": STRING})

# Parameter types a rule version may declare; each binding gives values (or takes the defaults).
PARAM_TYPES: dict[str, CelType] = {
    "string": STRING,
    "int": INT,
    "bool": BOOL,
    "decimal": STRING,  # exact: "0.05", read by shares, never a float
    "list_string": list_of(STRING),
    "list_int": list_of(INT),
}


def environment(kind: str, params: Mapping[str, str]) -> dict[str, CelType]:
    """The declared variables of a rule of `kind` (business or compliance) with these parameter types."""
    subject = {"proposal": PROPOSAL} if kind == "business" else {"holding": HOLDING}
    declared = obj("params", {name: PARAM_TYPES[t] for name, t in params.items()})
    return {**subject, "now": TIMESTAMP, "binding": BINDING, "params": declared}


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def account_context(account: Mapping[str, Any] | None) -> dict[str, Any]:
    if account is None:
        return {"present": False, **{k: "" for k in ACCOUNT.field_names if k != "present"}}
    return {"present": True, **{k: _text(account.get(k)) for k in ACCOUNT.field_names if k != "present"}}


def _ranged(item: Mapping[str, Any]) -> dict[str, Any]:
    scope = item["scope"]
    return {
        "first": item["first"],
        "last": item["last"],
        "quantity": item["last"] - item["first"] + 1,
        **{k: scope[k] for k in _SCOPE},
    }


def proposal_context(p: Mapping[str, Any]) -> dict[str, Any]:
    """The `proposal` variable, from a rules.ProposalSubmitted payload (as Python values)."""
    units = [
        {
            **_ranged(u),
            "cooperative_approach": _text(u.get("cooperative_approach")),
            "first_transferring_party": _text(u.get("first_transferring_party")),
            "sectors": list(u.get("sectors") or []),
            "activity_types": list(u.get("activity_types") or []),
        }
        for u in p["units"]
    ]
    descriptors = []
    for d in p.get("descriptors") or []:
        auth, first = d.get("authorization") or {}, d.get("first_transfer") or {}
        descriptors.append(
            {
                **_ranged(d),
                "authorized": bool(auth),
                "authorization_id": _text(auth.get("descriptor_id")),
                "dedication": _text(auth.get("dedication")),
                "authorized_by": _text(auth.get("authorized_by")),
                "first_transferred": bool(first),
                "first_transfer_id": _text(first.get("descriptor_id")),
            }
        )
    external = p.get("external") or {}
    return {
        "transaction_id": p["transaction_id"],
        "kind": p["kind"],
        "command": p["command"],
        "quantity": p["quantity"],
        "proposed_at": p["proposed_at"],
        "initiator": p["initiator"],
        "on_behalf_of": _text(p.get("on_behalf_of")),
        "initiator_grants": [{k: _text(g.get(k)) for k in GRANT.field_names} for g in p.get("initiator_grants") or []],
        "source": account_context(p.get("source")),
        "destination": account_context(p.get("destination")),
        "units": units,
        "approaches": sorted({u["cooperative_approach"] for u in units if u["cooperative_approach"]}),
        "vintages": sorted({u["vintage"] for u in units}),
        "corrects": _text(p.get("corrects")),
        "external_registry": _text(external.get("registry")),
        "external_account": _text(external.get("account")),
        "descriptors": descriptors,
    }


def holding_context(account: Mapping[str, Any] | None, scope: Mapping[str, Any], quantity: int) -> dict[str, Any]:
    return {"account": account_context(account), **{k: scope[k] for k in _SCOPE}, "quantity": quantity}
