"""Read endpoints the web interface needs (issue 7): the implicit transfer preview (A6R-52), sorted
listings, and the listing of account applications (A6R-41)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
import pytest

from registry_platform.auth import Grant

from .conftest import ADMIN, SCOPE, LedgerClient, issue, setup_registry

pytestmark = pytest.mark.integration


async def _post(ledger: LedgerClient, path: str, body: dict[str, Any], grants: list[Grant] = ADMIN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {ledger.token('admin', grants)}"}
    return await ledger.http.post(f"{ledger.base_url}{path}", json=body, headers=headers)


async def _get(ledger: LedgerClient, path: str, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {ledger.token('admin', ADMIN)}"}
    return await ledger.http.get(f"{ledger.base_url}{path}", headers=headers, params=params)


def _ranges(blocks: list[dict[str, Any]]) -> list[tuple[int, int]]:
    return sorted((b["first"], b["last"]) for b in blocks)


async def _fragmented(ledger: LedgerClient) -> dict[str, str]:
    """An issuance account holding blocks of 100, 200 and 300 units (serials 1-100, 201-400, 501-800)."""
    acc = await setup_registry(ledger)
    await ledger.ok(
        {
            "kind": "issue_units",
            "account": acc["issuance"],
            "scope": SCOPE,
            "quantity": 1000,
            "first_transferring_party": "GHA",
            "cooperative_approach": "CA0001",
        }
    )
    for first, last in ((101, 200), (401, 500), (801, 1000)):
        await ledger.ok(
            {
                "kind": "transfer_units",
                "source": acc["issuance"],
                "destination": acc["gha_holding"],
                "units": {"ranges": [{"scope": SCOPE, "first": first, "last": last}]},
            }
        )
    return acc


async def test_a6r52_preview_shows_exactly_the_ranges_the_implicit_transfer_moves(ledger: LedgerClient) -> None:
    acc = await _fragmented(ledger)
    command = {
        "kind": "transfer_units",
        "source": acc["issuance"],
        "destination": acc["che_holding"],
        "units": {"selection": {"quantity": 350, "issuing_party": "GHA"}},
    }
    journal_before = await ledger.get("/journal", limit=1000)
    answer = await _post(ledger, "/transfers/preview", command)
    assert answer.status_code == 200, answer.text
    preview = answer.json()
    # A6R-52 (c) on blocks of 100, 200 and 300 for 350: all three reach it (600), the excess 250
    # sheds the 100, the 200 gives the 50 missing units from its lowest serials, the 300 goes whole.
    assert [(b["first"], b["last"]) for b in preview["blocks"]] == [(201, 250), (501, 800)]
    assert preview["quantity"] == 350
    assert preview["blocks"][0]["serials"] == "CA0001-CHE01-GHA-201-2024..CA0001-CHE01-GHA-250-2024"
    # The preview wrote nothing.
    assert await ledger.balance(acc["issuance"]) == 600
    assert await ledger.get("/journal", limit=1000) == journal_before
    moved = await ledger.ok(command)
    assert _ranges(moved["blocks"]) == _ranges(preview["blocks"])
    received = await ledger.get(f"/accounts/{acc['che_holding']}/blocks")
    assert sorted(b["serials"] for b in received["items"]) == sorted(b["serials"] for b in preview["blocks"])


async def test_a6r52_preview_refusals(ledger: LedgerClient) -> None:
    acc = await _fragmented(ledger)
    base = {"kind": "transfer_units", "source": acc["issuance"], "destination": acc["che_holding"]}
    too_many = await _post(ledger, "/transfers/preview", {**base, "units": {"selection": {"quantity": 601}}})
    assert too_many.status_code == 409 and too_many.json()["error"]["code"] == "insufficient_units"
    explicit = {"ranges": [{"scope": SCOPE, "first": 1, "last": 5}]}
    assert (await _post(ledger, "/transfers/preview", {**base, "units": explicit})).json()["error"]["code"] == (
        "selection_required"
    )
    # Another section's administrator may not look into the account.
    che_admin = [Grant("section_administrator", section="CHE")]
    hidden = await _post(ledger, "/transfers/preview", {**base, "units": {"selection": {"quantity": 5}}}, che_admin)
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "unknown_account"
    # Who may only look at it (a viewer, with a role that may propose elsewhere) previews nothing:
    # the answer would show which serials other people's pending transfers reserved.
    viewer = [
        Grant("account_viewer", section="GHA", account=acc["issuance"]),
        Grant("section_user", section="GHA"),
    ]
    looked = await ledger.get(f"/accounts/{acc['issuance']}", grants=viewer, subject="vera")
    assert looked["number"] == acc["issuance"]
    refused = await _post(ledger, "/transfers/preview", {**base, "units": {"selection": {"quantity": 5}}}, viewer)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_authorized", refused.text
    initiator = [Grant("account_initiator", section="GHA", account=acc["issuance"])]
    allowed = await _post(ledger, "/transfers/preview", {**base, "units": {"selection": {"quantity": 5}}}, initiator)
    assert allowed.status_code == 200, allowed.text


async def test_issue7_listings_sort_by_whitelisted_columns_across_pages(ledger: LedgerClient) -> None:
    acc = await _fragmented(ledger)
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        page = await ledger.get("/accounts", limit=2, sort="-balance", **({"after": after} if after else {}))
        seen += page["items"]
        after = page["next"]
        if after is None:
            break
    # Descending: ties go by account number, descending too.
    balances = [(a["balance"], a["number"]) for a in seen]
    assert balances == sorted(balances, reverse=True)
    assert [a["number"] for a in seen[:2]] == [acc["issuance"], acc["gha_holding"]]
    assert len(seen) == len({a["number"] for a in seen}) == 7

    blocks = await ledger.get(f"/accounts/{acc['issuance']}/blocks", sort="-quantity")
    assert [b["quantity"] for b in blocks["items"]] == [300, 200, 100]
    kinds = await ledger.get("/transactions", sort="kind", limit=1000)
    assert [t["kind"] for t in kinds["items"]] == sorted(t["kind"] for t in kinds["items"])

    for path in ("/accounts", "/transactions", f"/accounts/{acc['issuance']}/blocks"):
        refused = await _get(ledger, path, sort="password")
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "unknown_sort" and error["details"]["allowed"]


async def test_a6r41_pending_applications_are_listed_for_the_sections_administrators(ledger: LedgerClient) -> None:
    await setup_registry(ledger)
    gha_user = [Grant("section_user", section="GHA")]
    applied = await ledger.ok(
        {"kind": "apply_for_account", "holder": "Acme Carbon", "section": "GHA", "type": "holding"},
        grants=gha_user,
        subject="alice",
    )
    gha_admin = [Grant("section_administrator", section="GHA")]
    che_admin = [Grant("section_administrator", section="CHE")]
    pending = await ledger.get("/applications", grants=gha_admin, subject="sam", state="pending", section="GHA")
    assert [(a["application_id"], a["holder"], a["applicant"], a["state"]) for a in pending["items"]] == [
        (applied["application_id"], "Acme Carbon", "alice", "pending")
    ]
    assert (await ledger.get("/applications", grants=che_admin, subject="carl"))["items"] == []
    assert len((await ledger.get("/applications", grants=gha_user, subject="alice"))["items"]) == 1
    assert (await ledger.get("/applications", grants=gha_user, subject="bruno"))["items"] == []
    decided = await ledger.ok(
        {"kind": "decide_application", "application_id": applied["application_id"], "approve": True},
        grants=gha_admin,
        subject="sam",
    )
    assert (await ledger.get("/applications", grants=gha_admin, subject="sam", state="pending"))["items"] == []
    (approved,) = (await ledger.get("/applications", grants=gha_admin, subject="sam", state="approved"))["items"]
    assert approved["account"] == decided["account"] and approved["decided_at"]


async def test_a6r48_signed_checkpoints_are_listed_newest_first_page_by_page(ledger: LedgerClient) -> None:
    """The test ledger signs a checkpoint every 50 journal entries."""
    acc = await setup_registry(ledger)
    await issue(ledger, acc["issuance"], 200)
    one_unit = {"kind": "transfer_units", "source": acc["issuance"], "destination": acc["gha_holding"]}
    answers = await asyncio.gather(
        *(ledger.propose({**one_unit, "units": {"selection": {"quantity": 1}}}) for _ in range(160))
    )
    assert [a.status_code for a in answers] == [201] * 160
    whole = await ledger.get("/journal/checkpoints", limit=1000)
    sizes = [c["tree_size"] for c in whole["items"]]
    assert len(sizes) >= 3 and sizes == sorted(sizes, reverse=True) and whole["next"] is None
    paged, before = [], None
    for _ in range(len(sizes) + 1):
        page = await ledger.get("/journal/checkpoints", limit=1, **({"before": before} if before else {}))
        paged += page["items"]
        before = page["next"]
        if before is None:
            break
    assert paged == whole["items"]
    assert all(len(c["root_hash"]) == 64 and c["signature"] for c in paged)


def _cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


async def test_a6r47_malformed_listing_cursors_are_a_422(ledger: LedgerClient) -> None:
    """A6R-47 (issue 7 listings): a cursor no page gave (null, a list, out of PostgreSQL's bigint
    range, too large for a float, nested past the parser's depth, a NUL that PostgreSQL's text cannot
    hold, a lone surrogate) is a 422 bad_cursor, not a 500."""
    await setup_registry(ledger)
    for path, sort, after in [
        ("/accounts", "balance", _cursor('[null, "X"]')),
        ("/accounts", "balance", _cursor('[[1], "X"]')),
        ("/accounts", "balance", _cursor('[1e30, "X"]')),
        ("/accounts", "balance", _cursor('[9223372036854775808, "X"]')),
        ("/accounts", "balance", _cursor('[1e400, "X"]')),
        ("/accounts", "balance", _cursor('[NaN, "X"]')),
        ("/accounts", "balance", _cursor("[" * 3000 + "]" * 3000)),
        ("/accounts", "opened_at", _cursor('["2026-13-01", "X"]')),
        ("/accounts", "holder", _cursor('["a\\u0000", "X"]')),
        ("/accounts", "holder", _cursor('["a", "X\\u0000"]')),
        ("/accounts", "holder", _cursor('["\\ud800", "X"]')),
        ("/transactions", "kind", _cursor('["\\udfff", 1]')),
        ("/transactions", "kind", _cursor('["issue_units", 1e30]')),
        ("/transactions", None, "99999999999999999999"),
        ("/applications", None, "-99999999999999999999"),
    ]:
        answer = await _get(ledger, path, after=after, **({"sort": sort} if sort else {}))
        assert answer.status_code == 422, (path, sort, answer.text)
        assert answer.json()["error"]["code"] == "bad_cursor"
    # A cursor a page gave still works.
    first = await ledger.get("/accounts", sort="balance", limit=2)
    assert (await ledger.get("/accounts", sort="balance", limit=2, after=first["next"]))["items"]


async def test_a6r30_transactions_filter_by_account_and_recording_window_before_the_limit(ledger: LedgerClient) -> None:
    """What an account's history and a day's report read: the filters are in the query, so a page
    of one is full while matching transactions remain, newest first."""
    acc = await _fragmented(ledger)
    everything = (await ledger.get("/transactions", limit=1000))["items"]
    account, keys = acc["gha_holding"], ("source", "destination", "account")
    naming = [t for t in everything if account in {p.get(k) for p in (t["command"], t["result"]) for k in keys}]
    assert 4 <= len(naming) < len(everything), "its opening, activation and the transfers into it"
    seen, after = [], None
    while True:
        page = await ledger.get(
            "/transactions",
            account=acc["gha_holding"],
            sort="-recorded",
            limit=1,
            **({"after": after} if after else {}),
        )
        seen += [t["transaction_id"] for t in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert seen == [t["transaction_id"] for t in reversed(naming)]

    middle = everything[len(everything) // 2]["recorded_at"]
    later = await ledger.get("/transactions", recorded_from=middle, limit=1000)
    earlier = await ledger.get("/transactions", recorded_before=middle, limit=1000)
    assert len(later["items"]) + len(earlier["items"]) == len(everything)
    assert all(t["recorded_at"] >= middle for t in later["items"])
    for params in ({"recorded_from": "2026-01-01T00:00:00"}, {"account": "gha holding"}, {"account": "A\x00"}):
        refused = await _get(ledger, "/transactions", **params)
        assert refused.status_code == 422, (params, refused.text)


async def test_a6r30_who_may_see_an_account_sees_every_transaction_recorded_on_it(ledger: LedgerClient) -> None:
    """An account's viewer sees the transfers into it that others made, in its history and one by
    one (A6R-23, A6R-30); a refused attempt stays its initiator's, and a viewer of another account
    sees none of them."""
    acc = await _fragmented(ledger)
    holding = acc["gha_holding"]
    refused = await ledger.propose(
        {"kind": "transfer_units", "source": holding, "destination": acc["issuance"], "quantity": 10**6}
    )
    assert refused.status_code in (409, 422), refused.text
    viewer = [Grant("account_viewer", account=holding)]
    history = await ledger.get("/transactions", grants=viewer, subject="ama", account=holding, limit=1000)
    assert history["items"] and all(t["outcome"] == "recorded" for t in history["items"])
    into = [t for t in history["items"] if t["kind"] == "transfer_units"]
    assert len(into) == 3 and all(t["initiator"] == "admin" for t in into)
    assert (await ledger.get(f"/transactions/{into[0]['transaction_id']}", grants=viewer, subject="ama"))["kind"]
    # Without naming the account, and for a viewer of another account: only their own.
    assert (await ledger.get("/transactions", grants=viewer, subject="ama"))["items"] == []
    other = [Grant("account_viewer", account=acc["che_holding"])]
    headers = {"Authorization": f"Bearer {ledger.token('kofi', other)}"}
    one = await ledger.http.get(f"{ledger.base_url}/transactions/{into[0]['transaction_id']}", headers=headers)
    assert one.status_code == 404, one.text
    assert (await ledger.get("/transactions", grants=other, subject="kofi", account=holding))["items"] == []
