"""A6R-12, A6R-14: a section administrator grants account roles on the accounts of their own section
only; the ledger numbers a section's accounts after its Party (GHA-100001)."""

from __future__ import annotations

from .conftest import Harness, make_world


async def test_a6r12_an_account_grant_on_an_account_outside_its_section_is_refused(idp: Harness) -> None:
    world = await make_world(idp)
    gha = world.tokens["gha_admin"]
    other = await idp.onboard(world.tokens["regadmin"], "kofi@gha.example", "Kofi Boateng")
    for account in ("CHE-100001", "REG-100005"):
        refused = await idp.call(
            "POST",
            "/grants",
            gha,
            json={"user_id": other.id, "role": "account_initiator", "section": "GHA", "account": account},
        )
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "account_not_in_section" and account in error["message"], error
    assert (await idp.ok("GET", "/grants", gha, params={"user_id": other.id}))["items"] == []
    await idp.grant(gha, other, "account_initiator", section="GHA", account="GHA-100001")
