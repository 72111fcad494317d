"""Compliance rules on the end state (A6R-19): after a recorded transaction, and on demand."""

from __future__ import annotations

import asyncio
import base64
from datetime import timedelta
from typing import Any

import pytest

from registry_platform.auth import Grant
from rules import samples

from .conftest import T0, Bus, RulesClient, add_rule, bind

pytestmark = pytest.mark.integration

NO_OLD_VINTAGES = {
    "kind": "compliance",
    "expression": "holding.account.type == 'holding' && holding.vintage < params.before",
    "params": {"before": {"type": "int", "default": 2021}},
    "section_bindable": True,
    "effect": {"type": "violation", "message": "Holding accounts of GHA hold no units of vintages before 2021."},
}


def recorded(tx: str, operations: list[dict[str, Any]]) -> dict[str, Any]:
    """A ledger.TransactionRecorded payload as the ledger's writer builds it."""
    return {
        "transaction_id": tx,
        "kind": "transfer_units",
        "status": "recorded",
        "initiator": "alice",
        "on_behalf_of": None,
        "operations": operations,
        "recorded_at": T0 + timedelta(minutes=1),
    }


def block(block_id: int, account: str, first: int, last: int, vintage: int) -> dict[str, Any]:
    scope = {**samples.SCOPE, "vintage": vintage}
    return {
        "block_id": block_id,
        "account": account,
        "scope": scope,
        "first": first,
        "last": last,
        "quantity": last - first + 1,
    }


async def test_a6r19_a_violation_is_detected_after_a_recorded_transaction(rules: RulesClient, bus: Bus) -> None:
    await add_rule(rules, "no-old-vintages", **NO_OLD_VINTAGES)
    await bind(rules, "no-old-vintages", "section", "GHA")
    # The ledger describes the accounts in its proposals; the rules service remembers them.
    holding = samples.account("GHA-100001")
    proposal = samples.proposal(source=samples.account("GHA-100009", type="issuance"), destination=holding)
    await bus.publish("ledger.proposals", "rules.ProposalSubmitted", proposal["transaction_id"], proposal)
    await bus.wait_for(lambda e: e.type == "rules.VerdictGiven")

    issue = recorded(
        "tx-issue", [{"op": "issue", "account": "GHA-100009", "blocks": [block(1, "GHA-100009", 1, 100, 2019)]}]
    )
    await bus.publish("ledger.transactions", "ledger.TransactionRecorded", "tx-issue", issue)
    moved = [block(3, "GHA-100001", 1, 40, 2019)]
    transfer = recorded(
        "tx-move", [{"op": "transfer", "source": "GHA-100009", "destination": "GHA-100001", "blocks": moved}]
    )
    await bus.publish("ledger.transactions", "ledger.TransactionRecorded", "tx-move", transfer)

    violation = (await bus.wait_for(lambda e: e.type == "rules.ComplianceViolation")).payload
    assert (violation["rule"], violation["version"], violation["account"]) == ("no-old-vintages", 1, "GHA-100001")
    assert (violation["transaction_id"], violation["quantity"], violation["scope"]["vintage"]) == ("tx-move", 40, 2019)
    # The issuance account is no holding account: it holds the other 60 without a violation.
    stored = await rules.ok("GET", "/compliance/violations")
    assert [(v["account"], v["transaction_id"]) for v in stored["items"]] == [("GHA-100001", "tx-move")]
    assert stored["next"] is None

    check = await rules.ok("POST", "/compliance/checks", {"section": "GHA"})
    assert check["holdings_checked"] == 2
    (found,) = check["violations"]
    assert (found["account"], found["transaction_id"], found["check_id"]) == (
        "GHA-100001",
        "tx-move",
        check["check_id"],
    )
    published = await bus.wait_for(
        lambda e: e.type == "rules.ComplianceViolation" and e.payload["check_id"] is not None
    )
    assert published.payload["violation_id"] == found["violation_id"]


async def test_a6r19_without_compliance_rules_a_run_of_transactions_is_placed_at_once(
    rules: RulesClient, bus: Bus
) -> None:
    """With no compliance rule bound, recorded transactions that arrive together are placed in the
    holdings read model at once; an on-demand check made later sees the holdings they left."""
    holding = samples.account("GHA-100001")
    proposal = samples.proposal(source=samples.account("GHA-100009", type="issuance"), destination=holding)
    await bus.publish("ledger.proposals", "rules.ProposalSubmitted", proposal["transaction_id"], proposal)
    await bus.wait_for(lambda e: e.type == "rules.VerdictGiven")

    def move(tx: str, source: str, destination: str, moved: dict[str, Any]) -> dict[str, Any]:
        return recorded(tx, [{"op": "transfer", "source": source, "destination": destination, "blocks": [moved]}])

    issue = [{"op": "issue", "account": "GHA-100009", "blocks": [block(1, "GHA-100009", 1, 100, 2019)]}]
    await bus.publish("ledger.transactions", "ledger.TransactionRecorded", "tx-issue", recorded("tx-issue", issue))
    await _holdings_checked(rules, 1)
    # Then three at once, over the stored row.
    events = [
        ("tx-move", move("tx-move", "GHA-100009", "GHA-100001", block(3, "GHA-100001", 1, 40, 2019))),
        ("tx-back", move("tx-back", "GHA-100001", "GHA-100009", block(5, "GHA-100009", 31, 40, 2019))),
        ("tx-other", move("tx-other", "GHA-100009", "GHA-100001", block(7, "GHA-100001", 1, 5, 2022))),
    ]
    await asyncio.gather(
        *(bus.publish("ledger.transactions", "ledger.TransactionRecorded", tx, payload) for tx, payload in events)
    )
    await _holdings_checked(rules, 3)
    await add_rule(rules, "no-old-vintages", **NO_OLD_VINTAGES)
    await bind(rules, "no-old-vintages", "section", "GHA")
    (found,) = (await rules.ok("POST", "/compliance/checks", {"section": "GHA"}))["violations"]
    # GHA-100001 keeps 1..30 of 2019 (31..40 went back) and 1..5 of 2022, which breaks nothing.
    assert (found["account"], found["quantity"], found["scope"]["vintage"]) == ("GHA-100001", 30, 2019)
    assert found["transaction_id"] == "tx-move"


async def _holdings_checked(rules: RulesClient, count: int) -> None:
    """Wait until an on-demand check of GHA finds `count` holdings (account and scope)."""
    for _ in range(100):
        if (await rules.ok("POST", "/compliance/checks", {"section": "GHA"}))["holdings_checked"] == count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the holdings read model never held {count} holdings")


async def _old_vintages_held(rules: RulesClient, bus: Bus) -> None:
    """GHA-100001 holds units of 2018 and of 2019, GHA-100002 of 2019, and no-old-vintages is bound
    to GHA: each check of GHA finds three violations."""
    proposal = samples.proposal(source=samples.account("GHA-100002"), destination=samples.account("GHA-100001"))
    await bus.publish("ledger.proposals", "rules.ProposalSubmitted", proposal["transaction_id"], proposal)
    await bus.wait_for(lambda e: e.type == "rules.VerdictGiven")
    blocks = [block(1, "GHA-100001", 1, 10, 2018), block(2, "GHA-100001", 1, 20, 2019)]
    blocks.append(block(3, "GHA-100002", 21, 30, 2019))
    issue = recorded("tx-issue", [{"op": "issue", "account": "GHA-100001", "blocks": blocks}])
    await bus.publish("ledger.transactions", "ledger.TransactionRecorded", "tx-issue", issue)
    await _holdings_checked(rules, 3)
    await add_rule(rules, "no-old-vintages", **NO_OLD_VINTAGES)
    await bind(rules, "no-old-vintages", "section", "GHA")


async def _all_pages(rules: RulesClient, limit: int, **kw: Any) -> list[dict[str, Any]]:
    """Every violation, page after page, as a client walks them; each page but the last is full."""
    params: dict[str, Any] = {"limit": limit, **kw.pop("params", {})}
    found: list[dict[str, Any]] = []
    while True:
        page = await rules.ok("GET", "/compliance/violations", params=params, **kw)
        found += page["items"]
        if page["next"] is None:
            return found
        assert len(page["items"]) == limit
        params["after"] = page["next"]


async def test_a6r19_stored_violations_are_paged_newest_first_none_missing_none_twice(
    rules: RulesClient, bus: Bus
) -> None:
    """GET /compliance/violations pages with the `next` cursor through more violations than a page
    holds: newest first, ties (one check finds several at one instant) in id order, each once;
    the account and section filters hold on every page (A6R-19)."""
    await _old_vintages_held(rules, bus)
    for _ in range(2):  # two checks at one instant: six violations detected at T0
        await rules.ok("POST", "/compliance/checks", {"section": "GHA"})
    rules.clock.advance(timedelta(minutes=1))
    await rules.ok("POST", "/compliance/checks", {"section": "GHA"})

    everything = await rules.ok("GET", "/compliance/violations", params={"limit": 1000})
    assert everything["next"] is None and len(everything["items"]) == 9
    newest_first = sorted(everything["items"], key=lambda v: (v["detected_at"], v["id"]), reverse=True)
    assert everything["items"] == newest_first
    for limit in (1, 2, 4, 9):
        walked = await _all_pages(rules, limit)
        assert [v["id"] for v in walked] == [v["id"] for v in newest_first], limit

    one_account = await _all_pages(rules, 2, params={"account": "GHA-100001"})
    assert [v["id"] for v in one_account] == [v["id"] for v in newest_first if v["account"] == "GHA-100001"]
    assert len(one_account) == 6
    gha = [Grant("section_administrator", "GHA")]
    assert [v["id"] for v in await _all_pages(rules, 4, grants=gha)] == [v["id"] for v in newest_first]
    assert await _all_pages(rules, 4, grants=[Grant("section_administrator", "CHE")]) == []


async def test_a6r19_a_malformed_violations_cursor_is_refused(rules: RulesClient) -> None:
    """A cursor no page gave (not base64url, not a position, an instant without its offset, no id)
    is refused with 422 bad_cursor, never a 500 (A6R-19)."""

    def b64(raw: str) -> str:
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    bad = [
        "not a cursor",
        "x",
        "%00",
        b64("[]"),
        b64("{}"),
        b64('["2030-01-01T00:00:00+00:00"]'),
        b64('["2030-01-01T00:00:00", "8a1f6c3e-0000-4000-8000-000000000000"]'),
        b64('["2030-01-01T00:00:00+00:00", "no-uuid"]'),
        b64('["2030-01-01T00:00:00+00:00", 7]'),
        b64('[null, "8a1f6c3e-0000-4000-8000-000000000000"]'),
        b64('["2030-01-01T00:00:00+00:00\\u0000", "8a1f6c3e-0000-4000-8000-000000000000"]'),
        b64("[" * 5000),
    ]
    for after in bad:
        response = await rules.call("GET", "/compliance/violations", params={"after": after})
        assert response.status_code == 422, (after[:40], response.text)
        assert response.json()["error"]["code"] == "bad_cursor", after[:40]


async def test_a6r19_a_retried_compliance_check_is_recorded_once(rules: RulesClient, bus: Bus) -> None:
    """A compliance check retried with its Idempotency-Key is not made, stored and published a
    second time: the retry gets the first check's answer; the key with another scope is refused
    (A6R-19)."""
    await _old_vintages_held(rules, bus)
    key = "check-gha-1"
    first = await rules.call("POST", "/compliance/checks", {"section": "GHA"}, key=key)
    assert first.status_code == 200, first.text
    rules.clock.advance(timedelta(minutes=1))
    again = await rules.call("POST", "/compliance/checks", {"section": "GHA"}, key=key)
    assert (again.status_code, again.json()) == (200, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    other = await rules.call("POST", "/compliance/checks", {"account": "GHA-100001"}, key=key)
    assert (other.status_code, other.json()["error"]["code"]) == (409, "idempotency_key_reused")
    stored = (await rules.ok("GET", "/compliance/violations"))["items"]
    assert sorted(v["id"] for v in stored) == sorted(v["violation_id"] for v in first.json()["violations"])
    assert len(stored) == 3
