"""User authorizations (A6R-12 to A6R-15, A6R-50, A6R-51, A6R-58): the hierarchy, suspension and
revocation reflected in minted tokens and in identity.GrantChanged events on identity.access."""

from __future__ import annotations

from .conftest import Harness, access_events, claims, make_world


def grant_ids(token: str) -> list[str]:
    return [g["id"] for g in claims(token)["grants"]]


async def test_a6r_50_system_administrators_grant_registry_administrators_only(idp: Harness) -> None:
    world = await make_world(idp)
    root = world.tokens["root"]
    other = await idp.onboard(root, "nana@gha.example", "Nana Adjei")
    for role, scope in [
        ("section_administrator", {"section": "GHA"}),
        ("section_user", {"section": "GHA"}),
        ("account_viewer", {"section": "GHA", "account": "GHA-1"}),
        ("approach_observer", {"cooperative_approach": "CA0001"}),
        ("system_administrator", {}),
    ]:
        refused = await idp.call("POST", "/grants", root, json={"user_id": other.id, "role": role, **scope})
        assert refused.status_code == 403, (role, refused.text)
    # No business function either: profile approvals are refused at the decision point.
    assert (await idp.call("GET", "/profile-changes", root)).status_code == 403
    assert (await idp.call("POST", "/external-systems", root, json={})).status_code == 403
    await idp.grant(root, other, "registry_administrator")


async def test_a6r_14_section_administrators_grant_in_their_section_only(idp: Harness) -> None:
    world = await make_world(idp)
    gha = world.tokens["gha_admin"]
    other = await idp.onboard(world.tokens["regadmin"], "yaw@gha.example", "Yaw Darko")
    che = await idp.call("POST", "/grants", gha, json={"user_id": other.id, "role": "section_user", "section": "CHE"})
    assert che.status_code == 403
    promote = await idp.call(
        "POST", "/grants", gha, json={"user_id": other.id, "role": "section_administrator", "section": "GHA"}
    )
    assert promote.status_code == 403
    selfish = await idp.call(
        "POST", "/grants", gha, json={"user_id": world.gha_admin.id, "role": "section_user", "section": "GHA"}
    )
    assert selfish.status_code == 403
    await idp.grant(gha, other, "account_initiator", section="GHA", account="GHA-100-7")
    unverified = await idp.new_user(world.tokens["regadmin"], "efua@gha.example", "Efua Sarpong")
    early = await idp.call(
        "POST", "/grants", gha, json={"user_id": unverified.id, "role": "section_user", "section": "GHA"}
    )
    assert early.status_code == 409 and early.json()["error"]["code"] == "user_not_verified"


async def test_a6r_51_suspension_reactivation_and_revocation_reach_tokens_and_the_topic(idp: Harness) -> None:
    world = await make_world(idp)
    gha, reg = world.tokens["gha_admin"], world.tokens["regadmin"]
    grant = world.user_grant["id"]
    assert grant_ids(world.tokens["user"]) == [grant]

    async def user_grants() -> list[str]:
        return grant_ids(await idp.token(world.user))

    await idp.ok("POST", f"/grants/{grant}/suspend", gha, json={"reason": "on leave"})
    assert await user_grants() == []
    await idp.ok("POST", f"/grants/{grant}/reactivate", gha, json={})
    assert await user_grants() == [grant]

    # Suspended by the registry administrator: the section administrator cannot lift or redo it.
    await idp.ok("POST", f"/grants/{grant}/suspend", reg, json={"reason": "investigation"})
    for action in ("reactivate", "suspend", "revoke"):
        refused = await idp.call("POST", f"/grants/{grant}/{action}", gha, json={})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "suspended_by_higher_level"
    # Nor grant it anew beside the suspended one.
    anew = await idp.call(
        "POST", "/grants", gha, json={"user_id": world.user.id, "role": "section_user", "section": "GHA"}
    )
    assert anew.status_code == 409 and anew.json()["error"]["code"] == "grant_exists"
    await idp.ok("POST", f"/grants/{grant}/reactivate", reg, json={})

    # Revocation is final; reinstatement is a new grant with a new id.
    await idp.ok("POST", f"/grants/{grant}/revoke", gha, json={"reason": "left the ministry"})
    again = await idp.call("POST", f"/grants/{grant}/reactivate", reg, json={})
    assert again.status_code == 409 and again.json()["error"]["code"] == "grant_revoked"
    assert await user_grants() == []
    renewed = await idp.grant(gha, world.user, "section_user", section="GHA")
    assert renewed["id"] != grant
    assert await user_grants() == [renewed["id"]]

    events = await access_events(idp.settings, want=11)
    changes = [e for e in events if e.type == "identity.GrantChanged" and e.key == world.user.id]
    assert [(e.payload["grant_id"] == grant, e.payload["status"]) for e in changes] == [
        (True, "active"),
        (True, "suspended"),
        (True, "active"),
        (True, "suspended"),
        (True, "active"),
        (True, "revoked"),
        (False, "active"),
    ]
    assert changes[1].payload["changed_by"] == world.gha_admin.id and changes[1].payload["reason"] == "on leave"
    assert changes[3].payload["changed_by"] == world.regadmin.id


async def test_a6r_51_a_withdrawn_grant_stops_working_at_once_in_identity(idp: Harness) -> None:
    """Identity's own decision point reads identity.access: the old token loses the grant."""
    world = await make_world(idp)
    gha = world.tokens["gha_admin"]
    gha_grant = claims(gha)["grants"][0]["id"]
    await idp.ok("POST", f"/grants/{gha_grant}/suspend", world.tokens["regadmin"], json={})
    import asyncio

    for _ in range(40):
        status = (await idp.call("GET", "/grants", gha)).status_code
        if status == 403:
            break
        await asyncio.sleep(0.05)
    assert status == 403


async def test_grants_are_listed_by_scope(idp: Harness) -> None:
    world = await make_world(idp)
    mine = await idp.ok("GET", "/grants", world.tokens["gha_admin"], params={"limit": 1})
    assert len(mine["items"]) == 1 and mine["next"]
    rest = await idp.ok("GET", "/grants", world.tokens["gha_admin"], params={"cursor": mine["next"]})
    assert {g["section"] for g in mine["items"] + rest["items"]} == {"GHA"}
    everything = await idp.ok("GET", "/grants", world.tokens["regadmin"])
    assert {g["role"] for g in everything["items"]} >= {"system_administrator", "registry_administrator"}
    # Filtered by role in identity, not by the caller over the first pages (web's registry administrators).
    admins = await idp.ok("GET", "/grants", world.tokens["regadmin"], params={"role": "registry_administrator"})
    expected = [g for g in everything["items"] if g["role"] == "registry_administrator"]
    assert admins["items"] == expected and expected


async def test_a6r_50_a_system_administrator_holds_no_business_role(idp: Harness) -> None:
    world = await make_world(idp)
    for who, role in [("regadmin", "section_administrator"), ("gha_admin", "section_user")]:
        body = {"user_id": world.root.id, "role": role, "section": "GHA"}
        refused = await idp.call("POST", "/grants", world.tokens[who], json=body)
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "separation_of_duties", refused.text
