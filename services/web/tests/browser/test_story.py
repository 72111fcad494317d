"""Issue 7's story, in Debian's chromium against the whole registry (A6R-26 to A6R-30, A6R-56): the
system administrator appoints a registry administrator; the registry administrator creates a Party
section and a cooperative approach and appoints the section's administrator; a user enrols with
MFA and applies for a holding account; the section administrator approves it and issues units; the
holder transfers units by constraints and by serial range and sees both in the history, and downloads
her holdings and transactions as CSV (A6R-23); a registry
administrator impersonates the holder under a visible banner; a corrective transfer reverses a
transfer; the registry administrator suspends the section, which stops its administrator's
transfers, and reactivates it. The section administrator issues an authorization and reviews the
units' descriptors (A6R-30, A6R-45), every transfer's confirmation shows exactly the serials that then move (A6R-52),
and lists sort by their columns. The section administrator also authorizes the units that meet
conditions and supersedes that authorization; the list shows the newest first (A6R-45, A6R-56).
A transfer is made by the keyboard alone. Every page every role sees passes axe-core's WCAG 2.1 A
and AA rules and has its landmarks (A6R-29); the main pages, shot at three sizes, neither scroll
sideways nor overlap (A6R-28)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from joserfc.jwk import OKPKey

from identity.service_layer.bootstrap_admin import first_system_administrator

pytestmark = [pytest.mark.browser, pytest.mark.integration]
PASSWORD = "violet-harbour-tractor-{}-lantern"


async def appoint(admin, registry, *, name: str, email: str, role: str | None, section: str = "") -> tuple[str, str]:
    """An administrator adds a person (verified, with a role, activation sent); their link and code."""
    await admin.goto("/users")
    await admin.fill(
        {
            "Full name": name,
            "Email address": email,
            "Phone number": "+233201234567",
            "Date of birth": "1980-02-03",
            "Nationality": "GHA",
            "Document type": "passport",
            "Issuing country": "GHA",
            "Document number": f"P{abs(hash(email)) % 10**8}",
        }
    )
    if role:
        await admin.page.get_by_label("Role to grant").select_option(role)
        if section:
            await admin.fill({"Section": section})
    await admin.click("Add the person")
    await admin.confirm_if_asked()
    assert "was added" in await admin.flash(), await admin.flash()
    user_id = await registry.user_id(email)
    link = await registry.outbound(user_id, "activation_link")
    return link, await registry.outbound(user_id, "activation_code")


async def test_issue7_story_in_the_browser(registry, people):
    # The first system administrator comes from `registry-identity bootstrap-admin`.
    made = await first_system_administrator(registry.identity, email="root@registry.example", name="Rosa Root")
    root = await people("system administrator")
    await root.activate(made["link"], made["code"], PASSWORD.format(1))
    await root.sign_in("root@registry.example")
    assert "System administration" in await root.page.locator("header").inner_text()
    await root.screenshots("system-admin-home")

    # The system administrator appoints a registry administrator.
    link, code = await appoint(
        root, registry, name="Rita Registrar", email="rita@registry.example", role="registry_administrator"
    )
    rita = await people("registry administrator")
    await rita.activate(link, code, PASSWORD.format(2))
    await rita.sign_in("rita@registry.example")
    await root.goto("/registry-administrators")
    assert "Rita Registrar" in await root.page.locator("main").inner_text()
    await root.click("Identity log", role="link")
    await root.page.get_by_label("Kind of entry (optional)").select_option("credential")
    await root.click("Show")
    assert "credential: activation issued" in await root.main()
    assert "session: started" not in await root.main()

    # The registry administrator creates a Party section and a cooperative approach ...
    await rita.goto("/sections")
    await rita.fill({"Party (ISO 3166-1 alpha-3 code)": "GHA", "Name": "Ghana"})
    await rita.click("Create the section")
    await rita.confirm_if_asked()
    assert "Section GHA was created" in await rita.flash(), await rita.main()
    await rita.goto("/approaches")
    await rita.fill({"Identifier": "CA0001", "Name": "Clean cooking", "Participating Parties": "GHA, CHE"})
    await rita.click("Create the cooperative approach")
    await rita.confirm_if_asked()
    assert "CA0001 was created" in await rita.flash(), await rita.main()
    # ... and appoints the section's administrator; she also adds the future account holder.
    link, code = await appoint(
        rita, registry, name="Sam Mensah", email="sam@gha.example", role="section_administrator", section="GHA"
    )
    sam = await people("section administrator")
    await sam.activate(link, code, PASSWORD.format(3))
    await sam.sign_in("sam@gha.example")
    link, code = await appoint(rita, registry, name="Ama Owusu", email="ama@gha.example", role=None)
    ama = await people("account holder")
    await ama.activate(link, code, PASSWORD.format(4))
    await ama.sign_in("ama@gha.example")
    assert "no user authorization yet" in await ama.main()

    # The section administrator lets Ama into the section, and opens the section's own accounts.
    await sam.goto("/users?find=ama%40gha.example")
    await sam.page.get_by_role("button", name="Grant to Ama Owusu").click()
    await sam.audit()
    await sam.confirm_if_asked()
    assert "granted" in await sam.flash(), await sam.main()

    # Ama asks for a new organisation (A6R-11): it waits for Sam, who acknowledges it.
    await ama.goto("/profile")
    await ama.fill({"Organisations": "Accra Cookstoves"})
    await ama.click("Save or ask for the change")
    assert "await an administrator's acknowledgement" in await ama.flash(), await ama.main()
    await sam.goto("/profile-changes")
    assert "Accra Cookstoves" in await sam.main(), await sam.main()
    await sam.page.get_by_role("button", name="Acknowledge the change of Ama Owusu").click()
    await sam.audit()
    await sam.confirm_if_asked()
    assert "acknowledged and applied" in await sam.flash(), await sam.main()
    await ama.goto("/profile")
    assert await ama.page.get_by_label("Organisations").input_value() == "Accra Cookstoves"
    assert "approved" in await ama.page.locator("table").inner_text()
    issuance = await open_account(sam, "Ghana issuance", "Issuance account")
    national = await open_account(sam, "Ghana national holding", "Holding account")
    # A6R-56 (a): the section's administrator opens its cancellation account directly.
    await sam.goto("/applications/new?section=GHA")
    await sam.fill({"Account holder (name of the person or entity)": "Ghana cancellation"})
    await sam.page.get_by_label("Type of account").select_option(label="Cancellation account")
    await sam.click("Open the account now")
    await sam.confirm_if_asked()
    assert "was opened (status: initial)" in await sam.flash(), await sam.main()
    assert "Ghana cancellation" in await sam.main(), await sam.main()

    # Ama applies for a holding account; Sam approves it (activated, and Ama may use it).
    await ama.goto("/home")
    await ama.click("Apply for an account", role="link")
    await ama.fill({"Account holder (name of the person or entity)": "Ama Owusu Cookstoves"})
    await ama.page.get_by_label("Cooperative approach (optional)").select_option("CA0001")
    await ama.click("Send the application")
    assert "Your application" in await ama.flash(), await ama.main()
    await sam.goto("/applications")
    await sam.page.get_by_role("button", name="Approve the application of Ama Owusu Cookstoves").click()
    await sam.audit()
    await sam.confirm_if_asked()
    assert "The applicant may now use the account" in await sam.flash(), await sam.flash()
    holding = sam.page.url.rsplit("/", 1)[1]

    # Sam issues units and gives 5,000 of them to Ama.
    await sam.goto("/issue?section=GHA")
    await sam.page.get_by_label("Issuance account").select_option(issuance)
    await sam.fill({"Activity identifier": "GH-CLEANCOOK-001", "Vintage year": "2024", "Number of units": "10000"})
    await sam.page.get_by_label("Cooperative approach (optional)").select_option("CA0001")
    await sam.page.get_by_label("Energy").check()
    await sam.click("Issue the units")
    await sam.confirm_if_asked()
    assert "10,000 units issued" in await sam.flash(), await sam.main()
    await transfer(sam, issuance, holding, quantity="5000")
    await sam.goto("/home")
    await sam.screenshots("section-admin-home")

    # Ama sees her balance, then transfers by constraints and by serial range.
    await ama.goto("/home")
    assert "5,000" in await ama.main(), await ama.main()
    await ama.screenshots("holder-home")
    by_quantity = await transfer(
        ama, holding, national, quantity="1200", screenshot="transfer-confirmation", keyboard=True
    )
    assert "CA0001-INT01-GHA-1-2024..CA0001-INT01-GHA-1200-2024" in await ama.main(), await ama.main()
    by_range = await transfer(ama, holding, national, serials="CA0001-INT01-GHA-2001-2024..CA0001-INT01-GHA-2500-2024")
    await ama.screenshots("transaction-review")
    await ama.goto("/transactions")
    await ama.screenshots("transactions")
    history = await ama.main()
    assert by_quantity in await ama.page.content() and by_range in await ama.page.content()
    assert "1,200" in history and "500" in history
    await ama.goto(f"/accounts/{holding}")
    assert "3,300" in await ama.main(), "5,000 - 1,200 - 500 units remain"
    await ama.screenshots("account-review")
    # A6R-23: her holdings as CSV for her office application add up to the balance her page shows.
    async with ama.page.expect_download() as started:
        await ama.page.get_by_role("link", name="Download these holdings (CSV)").click()
    download = await started.value
    assert download.suggested_filename.startswith(f"holdings-{holding}-"), download.suggested_filename
    text = await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    shown = await ama.page.locator("dl.facts div", has_text="Units held now").locator("dd").inner_text()
    balance, blocks = (int(n.replace(",", "")) for n in re.findall(r"[\d,]+", shown))
    assert {"account", "serials", "quantity", "cooperative_approach"} <= set(rows[0]), rows[0]
    assert sum(int(r["quantity"]) for r in rows) == balance and len(rows) == blocks, (shown, rows)
    transactions_csv = await ama.page.context.request.get(f"{registry.web}/accounts/{holding}/transactions.csv")
    assert by_quantity in await transactions_csv.text() and by_range in await transactions_csv.text()
    # History: the account's blocks as they were just before the first of her transfers.
    await ama.goto(f"/transactions/{by_quantity}")
    recorded = await ama.page.locator("dd time").first.get_attribute("datetime")
    before = (datetime.fromisoformat(recorded.replace("Z", "+00:00")) - timedelta(seconds=1)).strftime(
        "%Y-%m-%dT%H:%M:%S"
    )
    await ama.goto(f"/accounts/{holding}?at={before}")
    held = await ama.page.locator("#blocks").inner_text()
    assert "CA0001-INT01-GHA-1-2024..CA0001-INT01-GHA-5000-2024" in held, held
    then = await ama.page.context.request.get(f"{registry.web}/accounts/{holding}/holdings.csv?at={before}")
    assert "CA0001-INT01-GHA-1-2024..CA0001-INT01-GHA-5000-2024,5000," in await then.text()

    # Sam authorizes the 5,000 units Ama got for NDC use (A6R-45); a problem is shown at its field.
    await sam.goto("/home")
    await sam.click("Authorizations", role="link")
    await sam.page.get_by_label("Cooperative approach", exact=True).select_option("CA0001")
    await sam.fill(
        {
            "Serial range": "CA0001-INT01-GHA-1-2024..CA0001-INT01-GHA-5000-2024",
            "Activity identifier": "GH-CLEANCOOK-001",
        }
    )
    await sam.page.get_by_label("Other international mitigation purposes (OIMP)", exact=True).check()
    await sam.click("Issue the authorization")
    problem = sam.page.locator("#e-oimp_first_transfer")
    assert "choose what constitutes the first transfer" in await problem.inner_text(), await sam.main()
    await sam.page.get_by_label("NDC use", exact=True).check()
    for _ in range(40):  # the descriptors service learns of issued units from the ledger's events
        await sam.click("Issue the authorization")
        await sam.confirm_if_asked()
        if "was issued" in await sam.flash():
            break
        assert "do not exist" in await sam.main(), await sam.main()
        await sam.page.wait_for_timeout(250)
    listed = await sam.page.locator("#authorizations").inner_text()
    assert "NDC use" in listed and "GH-CLEANCOOK-001" in listed and "1 to 5,000" in listed, listed
    await sam.screenshots("authorizations")
    await sam.goto("/home")
    assert "GH-CLEANCOOK-001" in await sam.page.locator("#authorizations").inner_text()
    # Ama reviews her units' descriptors from her account: pending now, applicable in three days.
    await ama.goto(f"/accounts/{holding}")
    await ama.page.locator("#blocks").get_by_role("link", name="Review").first.click()
    await ama.audit()
    assert "Authorization by GHA" in await ama.page.locator("#history").inner_text(), await ama.main()
    assert "Pending" in await ama.page.locator("#history").inner_text()
    assert "Not authorized" in await ama.page.locator("#applicable").inner_text()
    later = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S")
    await ama.fill({"Show the descriptors as they stood at (UTC)": later})
    await ama.click("Show")
    assert "Authorized by GHA for NDC use" in await ama.page.locator("#applicable").inner_text(), await ama.main()
    assert "Applicable" in await ama.page.locator("#history").inner_text()
    await ama.screenshots("descriptor-review")

    # Sam authorizes by conditions the units of the activity issued from now on, up to a cap
    # (A6R-45, A6R-56); a problem is shown at its field.
    await sam.goto("/authorizations?section=GHA")
    await sam.page.get_by_label("Cooperative approach", exact=True).select_option("CA0001")
    await sam.page.get_by_label("The units that meet conditions, as they are issued", exact=True).check()
    await sam.fill({"Activity identifier": "GH-CLEANCOOK-001", "First vintage": "2025", "Last vintage": "2024"})
    await sam.page.get_by_label("NDC use", exact=True).check()
    await sam.click("Issue the authorization")
    assert "before the first" in await sam.page.locator("#e-vintage_to").inner_text(), await sam.main()
    await sam.fill({"Last vintage": "2026", "At most this many units": "2,000"})
    await sam.click("Issue the authorization")
    await sam.confirm_if_asked()
    assert "the units that meet its conditions was issued" in await sam.flash(), await sam.main()
    newest = await sam.page.locator("#authorizations tbody tr").first.inner_text()
    assert "Units meeting conditions" in newest and "quantity cap 2000" in newest, newest
    # ... and corrects it with a lower cap, superseding it (chosen from the list): newest first.
    await sam.page.get_by_label("Cooperative approach", exact=True).select_option("CA0001")
    await sam.page.get_by_label("The units that meet conditions, as they are issued", exact=True).check()
    await sam.fill(
        {"Activity identifier": "GH-CLEANCOOK-001", "First vintage": "2025", "At most this many units": "1000"}
    )
    await sam.page.get_by_label("NDC use", exact=True).check()
    earlier = await sam.page.locator("#f-supersedes option", has_text="units meeting conditions").get_attribute("value")
    await sam.page.get_by_label("Supersedes (optional)").select_option(earlier)
    await sam.click("Issue the authorization")
    await sam.confirm_if_asked()
    assert "was issued" in await sam.flash(), await sam.main()
    rows = sam.page.locator("#authorizations tbody tr")
    assert "Supersedes the authorization issued" in await rows.nth(0).inner_text(), await sam.main()
    assert "Superseded by a later authorization" in await rows.nth(1).inner_text(), await sam.main()
    assert await sam.page.locator("#f-supersedes option", has_text="quantity cap 2000").count() == 0
    await sam.screenshots("authorizations")
    await sam.goto("/home")
    assert "quantity cap 1000" in await sam.page.locator("#authorizations tbody tr").first.inner_text()

    # A registry administrator impersonates Ama: the banner is on every page while it lasts.
    await rita.goto("/users?find=ama%40gha.example")
    await rita.click("Ama Owusu", role="link")
    await rita.fill({"Reason": "Support case 42: checking her transfer"})
    await rita.click("Impersonate Ama Owusu")
    await rita.confirm_if_asked()
    banner = rita.page.get_by_role("region", name="Impersonation")
    assert "You are acting as Ama Owusu" in await banner.inner_text()
    assert "3,300" in await rita.main()
    await rita.goto("/transactions")
    assert await banner.is_visible()
    # Applying for an account as Ama: the holder is not filled with the administrator's name.
    await rita.goto("/applications/new?section=GHA")
    assert await rita.page.get_by_label("Account holder").input_value() == ""
    await rita.screenshots("impersonation")
    await rita.click("End impersonation")
    assert not await banner.count()
    # The identity log (A6R-48) keeps the impersonation, its reason, and Ama's own sign-ins.
    await rita.goto("/users?find=ama%40gha.example")
    await rita.click("Ama Owusu", role="link")
    await rita.click("Everything identity recorded about this person", role="link")
    rows = rita.page.locator("#log-caption ~ tbody tr")
    # Newest first: the impersonation's session ended, after it started with its reason.
    assert "session: revoked" in await rows.first.inner_text()
    started = rows.filter(has_text="impersonation: started")
    assert "Support case 42" in await started.inner_text()
    assert "session: started" in await rita.main()

    # A corrective transfer reverses the transfer by serial range.
    await rita.goto(f"/transactions/{by_range}")
    await rita.click("Reverse this transfer", role="link")
    await rita.fill({"Reason": "Sent to the wrong account"})
    await rita.click("Record the corrective transfer")
    await rita.confirm_if_asked()
    assert "corrective transfer was recorded" in await rita.flash(), await rita.main()
    assert "CA0001-INT01-GHA-2001-2024..CA0001-INT01-GHA-2500-2024" in await rita.main()
    await rita.goto(f"/accounts/{holding}")
    assert "3,800" in await rita.main(), "the reversal brought the 500 units back"
    await rita.goto("/home")
    await rita.screenshots("registry-admin-home")
    await rita.goto("/daily-summary")
    assert "Corrective transfer" in await rita.main()
    # Today's operations (asked of the ledger by their recording instants), on the page and as CSV.
    today = datetime.now(UTC).date().isoformat()
    await rita.goto(f"/daily-summary?day={today}")
    assert by_range in await rita.page.content(), await rita.main()
    report = await rita.page.request.get(f"{registry.web}/daily-summary.csv?day={today}")
    operations = list(csv.DictReader(io.StringIO((await report.text()).lstrip("\ufeff"))))
    assert any(row["transaction_id"] == by_range and row["kind"] == "transfer_units" for row in operations)
    assert all(row["recorded_at"].startswith(today) for row in operations), "only the day's operations"

    # A registry administrator decides an application too. The account holder role is for the
    # section's administrators to give (identity refuses it to anyone else), so her form leaves
    # it out, and the approval is complete.
    await ama.goto("/applications/new?section=GHA")
    await ama.fill({"Account holder (name of the person or entity)": "Ama Owusu Savings"})
    await ama.click("Send the application")
    assert "Your application" in await ama.flash(), await ama.main()
    await rita.goto("/applications")
    card = rita.page.locator("li.card", has_text="Ama Owusu Savings")
    assert await card.get_by_label("Let the applicant use the account (account holder role)").count() == 0
    assert "The administrators of section GHA give the applicant" in await card.inner_text()
    await card.get_by_role("button", name="Approve the application of Ama Owusu Savings").click()
    await rita.audit()
    await rita.confirm_if_asked()
    assert "Application approved." in await rita.flash() and "Not done" not in await rita.flash(), await rita.main()
    await rita.goto("/users")
    await rita.screenshots("people")
    for path in ("/accounts", "/applications", "/status", "/security"):
        await rita.goto(path)  # the remaining pages, audited like the others
    await rita.goto("/service-accounts")
    await rita.fill({"Holder": "International registry"})
    await rita.page.get_by_label("Type").select_option("administrative_cancellation")
    await rita.click("Open the account")
    assert "REG-" in await rita.flash(), await rita.main()

    # The registry administrator suspends the section (A6R-42, issue 7); a problem is shown at its field.
    await rita.goto("/sections")
    await rita.page.get_by_label("Section", exact=True).select_option("GHA")
    await rita.page.get_by_label("New status").select_option("suspended")
    await rita.click("Change the section's status")
    assert "Give the reason" in await rita.page.locator("#e-reason").inner_text(), await rita.main()
    await rita.fill({"Reason": "Audit of the section's accounts"})
    await rita.click("Change the section's status")
    await rita.confirm_if_asked()
    assert "Section GHA is now suspended" in await rita.flash(), await rita.main()
    assert "Suspended" in await rita.page.locator("#sections").inner_text()
    # Meanwhile the section's administrator may not move its units, and is told why.
    await sam.goto(f"/transfer?source={national}")
    await sam.fill({"To account (number)": holding, "Number of units": "10"})
    await sam.click("Review the transfer")
    await sam.click("Confirm the transfer")
    assert "Section GHA is suspended" in await sam.main(), await sam.main()
    # ... until the registry administrator makes it active again.
    await rita.page.get_by_label("Section", exact=True).select_option("GHA")
    await rita.page.get_by_label("New status").select_option("active")
    await rita.fill({"Reason": "Audit completed"})
    await rita.click("Change the section's status")
    await rita.confirm_if_asked()
    assert "Section GHA is now active" in await rita.flash(), await rita.main()
    assert "Suspended" not in await rita.page.locator("#sections").inner_text()

    # A section administrator suspends an account of the section (A6R-41).
    await sam.goto(f"/accounts/{national}")
    await sam.page.get_by_label("New status").select_option("suspended")
    await sam.fill({"Reason": "Holder asked for it"})
    await sam.click("Change status")
    assert f"Account {national} is now suspended" in await sam.flash(), await sam.main()

    # Lists sort by their columns, from the keyboard too: the most units first.
    await sam.goto("/accounts?section=GHA")
    await sam.page.get_by_role("link", name="Units held").focus()
    await sam.page.keyboard.press("Enter")
    await sam.page.wait_for_url("**sort=balance**")
    await sam.audit()
    assert "Units held" in await sam.page.locator("th[aria-sort=ascending]").inner_text()
    await sam.page.get_by_role("link", name="Units held").click()
    await sam.page.wait_for_url("**sort=-balance**")
    await sam.audit()
    first_row = sam.page.locator("#account-results tbody tr").first
    assert issuance in await first_row.inner_text(), "the issuance account keeps 5,000 units, the most"
    await sam.screenshots("accounts-sorted")
    await sam.goto("/transactions?sort=-kind")
    assert await sam.page.locator("th[aria-sort=descending]").count() == 1

    # Progressive enhancement: the account filter updates the list in place (htmx), and the URL.
    await sam.goto("/accounts?section=GHA")
    async with sam.page.expect_response(lambda r: "status=active" in r.url):
        await sam.page.get_by_label("Status (optional)").select_option("active")
    await sam.page.wait_for_url("**status=active**")
    assert holding in await sam.page.locator("#account-results").inner_text()
    await sam.audit()

    # The ledger refuses an issuance over serials already issued, and records the refusal under the
    # form's transaction id; the form comes back with a new one, so the corrected form is recorded.
    await sam.goto("/issue?section=GHA")
    await sam.page.get_by_label("Issuance account").select_option(issuance)
    await sam.fill(
        {
            "Activity identifier": "GH-CLEANCOOK-001",
            "Vintage year": "2024",
            "Number of units": "10",
            "First serial number": "9995",
        }
    )
    await sam.page.get_by_label("Cooperative approach (optional)").select_option("CA0001")
    await sam.click("Issue the units")
    await sam.confirm_if_asked()
    assert "/issue" in sam.page.url and "already" in await sam.main(), await sam.main()
    await sam.fill({"First serial number": "20001"})
    await sam.click("Issue the units")
    await sam.confirm_if_asked()
    assert "10 units issued" in await sam.flash(), await sam.main()

    # Suspecting Ama's recovery codes are compromised, a registry administrator revokes them (A6R-5):
    # at once, and Ama's sessions end with them.
    await rita.goto(f"/users/{await registry.user_id('ama@gha.example')}")
    await rita.page.get_by_role("button", name="Revoke the recovery codes of Ama Owusu").click()
    await rita.audit()
    await rita.confirm_if_asked()
    assert "The credential is revoked" in await rita.flash(), await rita.main()
    assert "recovery codes · revoked" in await rita.main(), await rita.main()
    await ama.page.goto(f"{registry.web}/home")
    assert "/sign-in" in ama.page.url, "Ama's session ended with the revocation"
    assert "Your session has ended" in await ama.main(), await ama.main()
    # Identity refuses a grant scoped to a section by its name, not its code; the form comes back as sent.
    await rita.page.get_by_label("Role", exact=True).select_option("approach_observer")
    await rita.fill({"Section": "Ghana"})
    await rita.click("Grant")
    await rita.confirm_if_asked()
    assert "at most 3 characters" in await rita.page.locator("#e-section").inner_text(), await rita.main()
    assert await rita.page.get_by_label("Role", exact=True).input_value() == "approach_observer"
    assert await rita.page.get_by_label("Section (optional)", exact=True).input_value() == "Ghana"

    # At her request, her data is erased (A6R-49): the form insists on a reason and on saying so,
    # and keeps the reason given meanwhile.
    await rita.fill({"Reason for erasing": "Her request under data protection law, case 77"})
    await rita.click("Erase this person's data")
    assert "Confirm that you understand" in await rita.main(), await rita.main()
    reason = rita.page.get_by_label("Reason for erasing", exact=True)
    assert await reason.input_value() == "Her request under data protection law, case 77"
    await rita.page.get_by_label("I understand this cannot be undone").check()
    await rita.click("Erase this person's data")
    await rita.confirm_if_asked()
    assert "The person's data is erased" in await rita.flash(), await rita.main()
    assert "Data erased" in await rita.main() and "Ama Owusu" not in await rita.main(), await rita.main()

    # An external system (A6R-8): registered with its public key and risk assessment, then disabled.
    await rita.goto("/external-systems")
    await rita.fill(
        {
            "Name": "Ghana national registry",
            "Public key (JWK)": json.dumps(OKPKey.generate_key("Ed25519").as_dict(private=False)),
            "Assessed by": "Registry security office",
            "Date of the assessment": "2026-11-20",
            "Party-specific section": "GHA",
        }
    )
    await rita.click("Register the system")
    await rita.confirm_if_asked()
    assert "Ghana national registry is registered" in await rita.flash(), await rita.main()
    await rita.page.get_by_role("button", name="Disable Ghana national registry").click()
    await rita.audit()
    await rita.confirm_if_asked()
    assert "its access has ended" in await rita.flash(), await rita.main()

    # The ledger's journal (A6R-48): every entry from the first on, and the latest signed checkpoint.
    await rita.click("Ledger journal", role="link")
    journal = await rita.main()
    assert "create section" in journal and "Latest checkpoint" in journal, journal


async def open_account(admin, holder: str, kind: str) -> str:
    """A section administrator opens a section account directly (A6R-56 a) and activates it."""
    await admin.goto("/applications/new?section=GHA")
    await admin.fill({"Account holder (name of the person or entity)": holder})
    await admin.page.get_by_label("Type of account").select_option(label=kind)
    await admin.page.get_by_label("Cooperative approach (optional)").select_option("CA0001")
    await admin.click("Open the account now")
    await admin.confirm_if_asked()
    assert "was opened (status: initial)" in await admin.flash(), await admin.main()
    number = str(admin.page.url.rsplit("/", 1)[1])
    await admin.page.get_by_label("New status").select_option("active")
    await admin.fill({"Reason": "Opened for the section"})
    await admin.click("Change status")
    await admin.audit()
    assert f"Account {number} is now active" in await admin.flash(), await admin.main()
    return number


async def transfer(
    person,
    source: str,
    destination: str,
    *,
    quantity: str = "",
    serials: str = "",
    screenshot: str = "",
    keyboard: bool = False,
) -> str:
    """Initiate, check the confirmation step, confirm; the transaction id. The serials the
    confirmation says will move are exactly those the transaction moved (A6R-52). With `keyboard`,
    a transfer by quantity is made by the keyboard alone (WCAG 2.1.1): Tab, type, Enter."""
    await person.goto(f"/transfer?source={source}")
    if keyboard:
        await person.type_into("input[name=destination]", destination)
        await person.type_into("input[name=quantity]", quantity)
        async with person.page.expect_navigation():
            await person.page.keyboard.press("Enter")
        await person.audit()
    else:
        await person.fill({"To account (number)": destination})
        if serials:
            await person.page.get_by_label("A range of serial numbers").check()
            await person.fill({"Serial range": serials})
        else:
            await person.fill({"Number of units": quantity})
        await person.click("Review the transfer")
    assert "Nothing has moved yet" in await person.main(), await person.main()
    previewed = await person.page.locator("#moving td.serial").all_inner_texts()
    assert previewed, await person.main()
    if screenshot:
        await person.screenshots(screenshot)
    if keyboard:
        await person.tab_to('form[method=post][action="/transfer"] button')
        async with person.page.expect_navigation():
            await person.page.keyboard.press("Enter")
        await person.audit()
    else:
        await person.click("Confirm the transfer")
    await person.confirm_if_asked()
    for _ in range(40):  # a proposal awaits the rules service's verdict: its page shows the outcome
        if "recorded" in await person.main():
            break
        await person.page.wait_for_timeout(250)
        await person.page.reload()
    assert "Transfer recorded" in await person.flash() or "recorded" in await person.main(), await person.main()
    assert await person.page.locator("#blocks td.serial").all_inner_texts() == previewed
    return str(re.search(r"/transactions/([0-9a-f-]{36})", person.page.url).group(1))
