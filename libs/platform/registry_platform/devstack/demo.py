"""Demo data for `make up`: two Party sections, a cooperative approach, accounts and units.

Every command carries a fixed transaction id, so a second `make up` repeats them harmlessly (the
ledger answers a repeat with the first result).
"""

from __future__ import annotations

import uuid

import httpx

from registry_platform.auth import Grant, dev_signing_key, issue_token
from registry_platform.devstack.stack import Stack, service_url
from registry_platform.settings import ServiceSettings

DEMO = uuid.UUID("6f1c1f38-3f7e-4b8e-9a5e-2d7f7c1a0001")
SCOPE = {"originating_registry": "GHA01", "issuing_party": "GHA", "activity_id": "GH-CLEANCOOK-001", "vintage": 2024}


def demo_token(grants: list[Grant], subject: str) -> str:
    secret = ServiceSettings(mode="dev").token_secret.get_secret_value()
    return issue_token(dev_signing_key(secret), subject, grants, lifetime=12 * 3600)


def load_demo_data(stack: Stack) -> None:
    del stack
    admin = demo_token([Grant("registry_administrator")], "demo-registry-admin")
    ledger = service_url("ledger")
    accounts: dict[str, str] = {}
    with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {admin}"}) as client:

        def propose(name: str, command: dict[str, object]) -> dict[str, object]:
            response = client.put(f"{ledger}/transactions/{uuid.uuid5(DEMO, name)}", json=command)
            if response.status_code >= 400:
                raise RuntimeError(f"demo step {name} refused: {response.text}")
            return response.json()

        propose("section-GHA", {"kind": "create_section", "party": "GHA", "name": "Ghana"})
        propose("section-CHE", {"kind": "create_section", "party": "CHE", "name": "Switzerland"})
        propose(
            "approach",
            {
                "kind": "create_cooperative_approach",
                "id": "CA0001",
                "name": "Ghana-Switzerland clean cooking",
                "parties": ["CHE", "GHA"],
            },
        )
        for name, section, type_ in [
            ("Ghana issuance", "GHA", "issuance"),
            ("Ghana holding", "GHA", "holding"),
            ("Switzerland holding", "CHE", "holding"),
            ("Switzerland NDC use", "CHE", "use_ndc"),
            ("Registry proxy", None, "proxy"),
        ]:
            opened = propose(
                f"open-{name}",
                {
                    "kind": "open_account",
                    "holder": name,
                    "section": section,
                    "cooperative_approach": "CA0001" if section else None,
                    "type": type_,
                },
            )
            accounts[name] = str(opened["account"])
            propose(
                f"activate-{name}",
                {"kind": "change_account_status", "account": accounts[name], "status": "active", "reason": "demo"},
            )
        propose(
            "issue",
            {
                "kind": "issue_units",
                "account": accounts["Ghana issuance"],
                "scope": SCOPE,
                "quantity": 100_000,
                "cooperative_approach": "CA0001",
                "first_transferring_party": "GHA",
                "sectors": ["energy"],
            },
        )
        propose(
            "transfer-1",
            {
                "kind": "transfer_units",
                "source": accounts["Ghana issuance"],
                "destination": accounts["Ghana holding"],
                "units": {"selection": {"quantity": 40_000}},
            },
        )
        propose(
            "transfer-2",
            {
                "kind": "transfer_units",
                "source": accounts["Ghana holding"],
                "destination": accounts["Switzerland holding"],
                "units": {"ranges": [{"scope": SCOPE, "first": 1001, "last": 11000}]},
            },
        )
    print("Demo data loaded: sections GHA and CHE, cooperative approach CA0001, accounts", ", ".join(accounts.values()))
    print("Development access token (registry administrator, 12 h):")
    print(f"  TOKEN={admin}")
