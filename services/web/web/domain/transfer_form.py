"""A transfer form turned into the ledger's command, with what the confirmation step shows.

- Explicit (A6R-52): a serial range, typed in A6R-40's human-readable form or picked as a held
  block and its first and last serial. The confirmation shows exactly the piece that moves and the
  pieces the block splits into.
- Implicit (A6R-52): constraints and a quantity. The web does not re-implement the ledger's
  selection function: the confirmation shows the ranges the ledger's preview of the same command
  says would move (POST /transfers/preview), which the entrypoint puts into `moving`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from registry_contracts.serials import RECORDED_VINTAGES, MalformedSerial, parse_block, parse_serial
from web.domain.formatting import parse_whole
from web.domain.forms import missing

SELECTION_KEYS = ("issuing_party", "activity_id", "vintage_from", "vintage_to", "cooperative_approach", "metric")


@dataclass
class TransferPlan:
    command: dict[str, Any]
    mode: str
    quantity: int
    moving: list[dict[str, Any]] = field(default_factory=list)
    remaining: list[dict[str, Any]] = field(default_factory=list)


def _piece(block: dict[str, Any], first: int, last: int) -> dict[str, Any]:
    return {**block, "first": first, "last": last, "quantity": last - first + 1, "serials": None}


def _find_human(text: str, blocks: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, int, int, str | None]:
    try:
        human = parse_block(text) if ".." in text else None
        if human is None:
            unit = parse_serial(text)
            approach, registry, party, vintage = (
                unit.cooperative_approach,
                unit.originating_registry,
                unit.first_transferring_party,
                unit.vintage,
            )
            first = last = unit.serial
        else:
            approach, registry, party, vintage = (
                human.cooperative_approach,
                human.originating_registry,
                human.first_transferring_party,
                human.vintage,
            )
            first, last = human.serials.first, human.serials.last
    except MalformedSerial as exc:
        return None, 0, 0, exc.reason
    for b in blocks:
        scope = b.get("scope") or {}
        if (
            b.get("cooperative_approach") == approach
            and scope.get("originating_registry") == registry
            and b.get("first_transferring_party") == party
            and scope.get("vintage") == vintage
            and b["first"] <= first
            and last <= b["last"]
        ):
            return b, first, last, None
    return None, first, last, "The source account does not hold all of these serial numbers."


def _explicit(
    form: dict[str, str], blocks: list[dict[str, Any]]
) -> tuple[dict[str, Any] | None, int, int, dict[str, str]]:
    text = form.get("range", "").strip()
    if text:
        block, first, last, problem = _find_human(text, blocks)
        return block, first, last, ({"range": problem} if problem else {})
    block = next((b for b in blocks if str(b["block_id"]) == form.get("block")), None)
    if block is None:
        return None, 0, 0, {"range": "Type a serial range, or choose one of the account's blocks."}
    first = parse_whole(form.get("first")) or block["first"]
    last = parse_whole(form.get("last")) or block["last"]
    if not (block["first"] <= first <= last <= block["last"]):
        return (
            None,
            0,
            0,
            {"first": f"Give serials from {block['first']:,} to {block['last']:,}, the first not after the last."},
        )
    return block, first, last, {}


def plan_transfer(form: dict[str, str], blocks: list[dict[str, Any]]) -> tuple[TransferPlan | None, dict[str, str]]:
    """The command and its preview, or {field: problem}."""
    errors = missing(
        form,
        {
            "source": "Choose the account the units leave.",
            "destination": "Give the number of the account that receives the units.",
        },
    )
    if "destination" not in errors and form["destination"] == form.get("source"):
        errors["destination"] = "The destination must be another account."
    mode = form.get("mode") or "selection"
    base = {"kind": "transfer_units", "source": form.get("source"), "destination": form.get("destination", "").upper()}
    if mode == "explicit":
        block, first, last, problems = _explicit(form, blocks)
        errors.update(problems)
        if errors or block is None:
            return None, errors
        pieces = [(block["first"], first - 1), (last + 1, block["last"])]
        plan = TransferPlan(
            {**base, "units": {"ranges": [{"scope": block["scope"], "first": first, "last": last}]}},
            mode,
            last - first + 1,
            moving=[_piece(block, first, last)],
            remaining=[_piece(block, a, b) for a, b in pieces if a <= b],
        )
        return plan, {}
    quantity = parse_whole(form.get("quantity"))
    if quantity is None or quantity < 1:
        errors["quantity"] = "Give how many units to transfer, a whole number of at least 1."
    selection: dict[str, Any] = {"quantity": quantity}
    for key in SELECTION_KEYS:
        value = form.get(key, "").strip()
        if not value:
            continue
        if key.startswith("vintage"):
            year = parse_whole(value)
            if year is None or not RECORDED_VINTAGES[0] <= year <= RECORDED_VINTAGES[1]:
                errors[key] = f"Give a year from {RECORDED_VINTAGES[0]} to {RECORDED_VINTAGES[1]}."
            selection[key] = year
        else:
            selection[key] = value.upper() if key in ("issuing_party", "cooperative_approach") else value
    if errors:
        return None, errors
    assert quantity is not None
    return TransferPlan({**base, "units": {"selection": selection}}, mode, quantity), {}
