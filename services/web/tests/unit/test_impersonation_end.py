"""A6R-43: what an administrator does while impersonating is done for the user, with the user's
token, or not at all: never with the administrator's own token in its place."""

from __future__ import annotations

import time
from typing import Any

from registry_platform.auth import REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR
from web.adapters.backends import ServiceError

from .conftest import signed_in_browser

ACCOUNT = "GHA-1001"
STATUS_CHANGE = {"status": "suspended", "reason": "holder asked"}


class Ledger:
    """The services, recording the token of every call; `refusal` answers every call when set."""

    def __init__(self, refusal: ServiceError | None = None) -> None:
        self.tokens: list[str | None] = []
        self.refusal = refusal

    async def call(self, service: str, method: str, path: str, *, token: str | None = None, **_: Any) -> Any:
        self.tokens.append(token)
        if self.refusal is not None:
            raise self.refusal
        return {}

    async def call_with_status(
        self, service: str, method: str, path: str, *, token: str | None = None, **_: Any
    ) -> Any:
        self.tokens.append(token)
        if self.refusal is not None:
            raise self.refusal
        return 201, {"transaction_id": "t", "outcome": "recorded"}


def impersonation(seconds_left: float) -> dict[str, Any]:
    return {
        "access": "users-token",
        "expires_at": time.time() + seconds_left,
        "user_id": "u-1",
        "label": "Ama Owusu",
        "reason": "support case 12",
        "grants": [{"role": SECTION_ADMINISTRATOR, "section": "GHA"}],
    }


async def test_a6r43_a_form_sent_as_the_impersonation_runs_out_does_nothing_as_the_administrator() -> None:
    """Before, the form went on with the administrator's own token: the status change (or a
    transfer) was recorded as the administrator's own act, under their wider rights."""
    ledger = Ledger()
    async with signed_in_browser(ledger, REGISTRY_ADMINISTRATOR) as (http, session):
        session.data["impersonation"] = impersonation(1.0)
        response = await http.post(f"/accounts/{ACCOUNT}/status", data={"csrf_token": session.csrf, **STATUS_CHANGE})
        assert response.status_code == 303 and response.headers["location"] == "/home"
        assert ledger.tokens == [], "no service was called, least of all with the administrator's token"
        assert "impersonation" not in session.data
        (flash,) = session.data["flash"]
        assert "Ama Owusu" in flash["message"] and "Nothing was done" in flash["message"]


async def test_a6r43_a_form_sent_while_the_impersonation_lives_goes_with_the_users_token() -> None:
    ledger = Ledger()
    async with signed_in_browser(ledger, REGISTRY_ADMINISTRATOR) as (http, session):
        session.data["impersonation"] = impersonation(60.0)
        response = await http.post(f"/accounts/{ACCOUNT}/status", data={"csrf_token": session.csrf, **STATUS_CHANGE})
        assert response.status_code == 303, response.text
        assert ledger.tokens == ["users-token"]


async def test_a6r43_a_step_up_asked_for_while_impersonating_keeps_no_form_for_the_administrators_token() -> None:
    """The second factor the administrator proves refreshes their own sign-in: a form kept for
    after it would be sent again on the administrator's token (or loop until the impersonation
    ran out, then go as the administrator)."""
    ledger = Ledger(ServiceError(401, "step_up_required", "Confirm with your second factor.", {}, "ledger"))
    async with signed_in_browser(ledger, REGISTRY_ADMINISTRATOR) as (http, session):
        session.data["impersonation"] = impersonation(60.0)
        response = await http.post(f"/accounts/{ACCOUNT}/status", data={"csrf_token": session.csrf, **STATUS_CHANGE})
        assert response.status_code == 403 and "end the impersonation" in response.text
        assert "step_up" not in session.data


async def test_a6r43_ending_an_impersonation_drops_a_form_kept_for_after_a_step_up() -> None:
    ledger = Ledger()
    async with signed_in_browser(ledger, REGISTRY_ADMINISTRATOR) as (http, session):
        session.data["impersonation"] = impersonation(60.0)
        session.data["step_up"] = {"next": "/issue", "form": {"quantity": "5"}, "message": "Confirm."}
        response = await http.post("/impersonation/end", data={"csrf_token": session.csrf})
        assert response.status_code == 303
        assert "step_up" not in session.data and "impersonation" not in session.data
