"""Sample proposals (rules.ProposalSubmitted payloads) for dry runs, tests and the benchmark."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

SCOPE = {
    "originating_registry": "CHE01",
    "issuing_party": "GHA",
    "activity_id": "GH-COOK-001",
    "vintage": 2024,
    "metric": "tCO2e",
}


def account(
    number: str,
    *,
    type: str = "holding",
    section: str | None = "GHA",
    approach: str | None = "CA0001",
    status: str = "active",
) -> dict[str, Any]:
    return {
        "number": number,
        "type": type,
        "status": status,
        "section": section,
        "cooperative_approach": approach,
        "holder": f"holder of {number}",
    }


def unit(first: int = 1, last: int = 100, *, approach: str | None = "CA0001", **scope: Any) -> dict[str, Any]:
    return {
        "scope": {**SCOPE, **scope},
        "first": first,
        "last": last,
        "cooperative_approach": approach,
        "first_transferring_party": scope.get("issuing_party", SCOPE["issuing_party"]),
        "sectors": ["energy"],
        "activity_types": ["cookstoves"],
    }


def proposal(
    *,
    kind: str = "transfer",
    units: list[dict[str, Any]] | None = None,
    source: dict[str, Any] | None = None,
    destination: dict[str, Any] | None = None,
    proposed_at: datetime | None = None,
    transaction_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A proposal payload; defaults: a transfer of serials 1-100 from GHA-100001 to CHE-100002."""
    units = units or [unit()]
    if kind == "issuance":
        source = None
    elif kind == "external_transfer_in" and source is None:
        source = account("REG-100009", type="proxy", section=None)  # where arriving units are generated
    elif source is None:
        source = account("GHA-100001")
    if destination is None:
        destination = account("CHE-100002", section="CHE")
    command = {
        "issuance": "issue_units",
        "transfer": "transfer_units",
        "correction": "corrective_transfer",
        "external_transfer_out": "external_transfer_out",
        "external_transfer_in": "external_transfer_in",
    }[kind]
    return {
        "transaction_id": transaction_id or str(uuid.uuid4()),
        "kind": kind,
        "command": command,
        "quantity": sum(u["last"] - u["first"] + 1 for u in units),
        "units": units,
        "source": source,
        "destination": destination,
        "initiator": "alice",
        "on_behalf_of": None,
        "initiator_grants": [{"role": "account_initiator", "account": (source or destination)["number"]}],
        "proposed_at": proposed_at or datetime.now(UTC),
        **extra,
    }
