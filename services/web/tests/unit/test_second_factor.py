"""The second factor as signing in and the step-up prompt share it (A6R-6)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from web.adapters.backends import ServiceError
from web.entrypoints.second_factor import ceremony_options, confirm_factor
from web.service_layer.messages import ACTION


class Identity:
    def __init__(self, refusal: ServiceError | None = None) -> None:
        self.sent: list[dict[str, Any]] = []
        self.refusal = refusal

    async def send(self, body: dict[str, Any]) -> dict[str, str]:
        self.sent.append(body)
        if self.refusal is not None:
            raise self.refusal
        return {"access_token": "t"}


async def test_a6r6_a_code_is_sent_and_its_answer_returned() -> None:
    identity = Identity()
    answer, errors = await confirm_factor({"code": "123456"}, identity.send, missing="Enter the code.")
    assert (answer, errors) == ({"access_token": "t"}, {})
    assert identity.sent == [{"method": "totp", "code": "123456"}]
    await confirm_factor({"method": "recovery_code", "code": "abcd"}, identity.send, missing="")
    assert identity.sent[-1] == {"method": "recovery_code", "code": "abcd"}


async def test_a6r6_problems_are_shown_next_to_the_code() -> None:
    identity = Identity(ServiceError(401, "invalid_second_factor", "That code is not valid."))
    assert await confirm_factor({}, identity.send, missing="Enter the code.") == (None, {"code": "Enter the code."})
    assert identity.sent == []
    assert await confirm_factor({"code": "1"}, identity.send, missing="") == (None, {"code": "That code is not valid."})
    unreadable = {"method": "webauthn", "credential": "{not json"}
    assert (await confirm_factor(unreadable, identity.send, missing=""))[1].keys() == {ACTION}


async def test_a6r6_refusals_the_caller_handles_are_raised() -> None:
    identity = Identity(ServiceError(400, "invalid_challenge", "Sign in again."))
    with pytest.raises(ServiceError):
        await confirm_factor({"code": "1"}, identity.send, missing="", passthrough=("invalid_challenge",))


async def test_a6r6_security_key_options_or_the_refusal_as_json() -> None:
    async def options() -> dict[str, str]:
        return {"challenge": "c"}

    async def refused() -> dict[str, str]:
        raise ServiceError(409, "no_credentials", "No security key is registered.")

    answer = await ceremony_options(options)
    assert answer.status_code == 200 and json.loads(answer.body) == {"challenge": "c"}
    refusal = await ceremony_options(refused)
    assert refusal.status_code == 409
    error = {"code": "no_credentials", "message": "No security key is registered."}
    assert json.loads(refusal.body) == {"error": error}
