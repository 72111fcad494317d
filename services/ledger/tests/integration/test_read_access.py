"""Who sees an account in the read views (A6R-51, A6R-41): an account grant counts for the account
in the section it names, never for another section's account; and a caller who may not see an account
learns nothing about it, not even whether its number exists."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from registry_platform.auth import Grant

from .conftest import LedgerClient, issue, setup_registry, transfer

pytestmark = pytest.mark.integration

MISSING = "GHA-999999"


async def _call(
    ledger: LedgerClient, method: str, path: str, grants: list[Grant], subject: str = "kofi", **kw: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {ledger.token(subject, grants)}"}
    return await ledger.http.request(method, f"{ledger.base_url}{path}", headers=headers, **kw)


def _answer(response: httpx.Response) -> tuple[int, str | None]:
    body = response.json()
    return response.status_code, body["error"]["code"] if "error" in body else None


async def _reads(ledger: LedgerClient, number: str, grants: list[Grant], che_holding: str) -> dict[str, Any]:
    """What every read route that takes an account number answers this caller about `number`."""
    future = "2999-01-01T00:00:00Z"
    preview = {
        "kind": "transfer_units",
        "source": number,
        "destination": che_holding,
        "units": {"selection": {"quantity": 1}},
    }
    answers: dict[str, Any] = {
        "account": _answer(await _call(ledger, "GET", f"/accounts/{number}", grants)),
        "blocks": _answer(await _call(ledger, "GET", f"/accounts/{number}/blocks", grants)),
        "blocks at": _answer(
            await _call(ledger, "GET", f"/accounts/{number}/blocks", grants, params={"at": "2020-01-01T00:00:00Z"})
        ),
        "blocks at a future instant": _answer(
            await _call(ledger, "GET", f"/accounts/{number}/blocks", grants, params={"at": future})
        ),
        "blocks naive at": _answer(
            await _call(ledger, "GET", f"/accounts/{number}/blocks", grants, params={"at": "2020-01-01T00:00:00"})
        ),
        "blocks unknown sort": _answer(
            await _call(ledger, "GET", f"/accounts/{number}/blocks", grants, params={"sort": "password"})
        ),
        "preview": _answer(await _call(ledger, "POST", "/transfers/preview", grants, json=preview)),
    }
    listed = await _call(ledger, "GET", "/transactions", grants, params={"account": number, "limit": 1000})
    answers["transactions naming it"] = (listed.status_code, listed.json()["items"])
    accounts = await _call(ledger, "GET", "/accounts", grants, params={"limit": 1000})
    answers["listed"] = number in {a["number"] for a in accounts.json()["items"]}
    return answers


async def test_a6r51_an_account_grant_naming_another_sections_account_shows_nothing(ledger: LedgerClient) -> None:
    """A grant {section: CHE, account: <a GHA account>} (a CHE administrator may make one) neither
    shows the GHA account, nor lists it, nor its blocks, nor the transactions recorded on it."""
    acc = await setup_registry(ledger)
    gha = acc["gha_holding"]
    await issue(ledger, acc["issuance"], 100)
    moved = await ledger.ok(transfer(acc["issuance"], gha, 40))
    for role in ("account_viewer", "account_initiator", "account_approver"):
        crossed = [Grant(role, section="CHE", account=gha)]
        assert _answer(await _call(ledger, "GET", f"/accounts/{gha}", crossed)) == (404, "unknown_account"), role
        assert _answer(await _call(ledger, "GET", f"/accounts/{gha}/blocks", crossed)) == (404, "unknown_account")
        listed = await ledger.get("/accounts", grants=crossed, subject="kofi", limit=1000)
        assert listed["items"] == [], role
        shown = await _call(ledger, "GET", f"/transactions/{moved['transaction_id']}", crossed)
        assert _answer(shown) == (404, "unknown_transaction"), role
        history = await ledger.get("/transactions", grants=crossed, subject="kofi", account=gha, limit=1000)
        assert history["items"] == [], role

        # The same grant in the account's own section shows it all.
        own = [Grant(role, section="GHA", account=gha)]
        assert (await ledger.get(f"/accounts/{gha}", grants=own, subject="kofi"))["balance"] == 40
        assert [a["number"] for a in (await ledger.get("/accounts", grants=own, subject="kofi"))["items"]] == [gha]
        assert len((await ledger.get(f"/accounts/{gha}/blocks", grants=own, subject="kofi"))["items"]) == 1
        assert (await ledger.get(f"/transactions/{moved['transaction_id']}", grants=own, subject="kofi"))["kind"]


async def test_a6r51_who_may_not_see_an_account_cannot_tell_it_from_a_missing_number(ledger: LedgerClient) -> None:
    """Every read route that takes an account number answers an existing account the caller may not
    see exactly as it answers a number no account has: another section's administrator, an account
    grant of another section, and an account grant naming the account in the wrong section."""
    acc = await setup_registry(ledger)
    await issue(ledger, acc["issuance"], 10)
    await ledger.ok(transfer(acc["issuance"], acc["gha_holding"], 10))
    for grants in (
        [Grant("section_administrator", section="CHE")],
        [Grant("account_viewer", section="CHE", account=acc["che_holding"])],
        [Grant("account_initiator", section="CHE", account=acc["gha_holding"])],
    ):
        hidden = await _reads(ledger, acc["gha_holding"], grants, acc["che_holding"])
        missing = await _reads(ledger, MISSING, grants, acc["che_holding"])
        assert hidden == missing, grants
        assert hidden["account"] == (404, "unknown_account")
        assert hidden["transactions naming it"] == (200, []) and not hidden["listed"]
