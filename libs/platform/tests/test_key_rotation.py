"""A key identity has just started signing with is accepted from its first token (A6R-43), and tokens
naming made-up keys cannot make a service read identity's JWKS more than once every few seconds."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from registry_platform.auth import REGISTRY_ADMINISTRATOR, Grant, dev_signing_key, issue_token
from registry_platform.authz import require
from registry_platform.service import ServiceDefinition, create_app
from registry_platform.testing.infra import serve_app, wait_ready

from .conftest import MIGRATIONS

pytestmark = pytest.mark.integration
INTERVAL = 2.0  # the service's jwks_unknown_key_interval_seconds


class _Identity:
    """Identity's JWKS endpoint: publishes the keys it is told to, and counts the reads."""

    def __init__(self, *seeds: str) -> None:
        self.reads = 0
        self.publish(*seeds)
        self.app = FastAPI()

        @self.app.get("/.well-known/jwks.json")
        async def jwks() -> dict[str, Any]:
            self.reads += 1
            await asyncio.sleep(0.1)  # long enough for concurrent requests to meet one read
            return self._jwks

    def publish(self, *seeds: str) -> None:
        keys = [dev_signing_key(seed) for seed in seeds]
        self._jwks = {"keys": [{**k.as_dict(private=False), "kid": k.thumbprint()} for k in keys]}


def _token(seed: str) -> str:
    return issue_token(dev_signing_key(seed), "rita", [Grant(REGISTRY_ADMINISTRATOR)])


async def test_a6r43_a_rotated_key_is_accepted_at_once_and_unknown_keys_read_the_jwks_sparingly(
    service_settings,
) -> None:  # type: ignore[no-untyped-def]
    identity = _Identity("key A")
    router = APIRouter()

    @router.get("/sections", dependencies=[require(REGISTRY_ADMINISTRATOR)])
    async def sections() -> list[str]:
        return ["GHA"]

    definition = ServiceDefinition(name="crm", version="0", migrations_dir=MIGRATIONS, routers=[router])
    async with serve_app(identity.app) as identity_url:
        settings = service_settings(
            "crm", jwks_url=f"{identity_url}/.well-known/jwks.json", jwks_unknown_key_interval_seconds=INTERVAL
        )
        async with serve_app(create_app(definition, settings)) as url, httpx.AsyncClient(timeout=10) as http:
            await wait_ready(url)

            async def sections_with(token: str) -> int:
                answer = await http.get(f"{url}/sections", headers={"Authorization": f"Bearer {token}"})
                return answer.status_code

            assert await sections_with(_token("key A")) == 200
            assert identity.reads == 1
            # Before, a token signed with B was refused until the next periodic read, a minute on.
            identity.publish("key A", "key B")
            assert await sections_with(_token("key B")) == 200
            assert identity.reads == 2

            await asyncio.sleep(INTERVAL)
            # Concurrent requests naming a key not seen yet share one read.
            identity.publish("key A", "key B", "key C")
            assert await asyncio.gather(*(sections_with(_token("key C")) for _ in range(10))) == [200] * 10
            assert identity.reads == 3

            await asyncio.sleep(INTERVAL)
            made_up = [_token(f"made-up {n}") for n in range(30)]
            assert await asyncio.gather(*(sections_with(t) for t in made_up[:15])) == [401] * 15
            assert [await sections_with(t) for t in made_up[15:]] == [401] * 15
            assert identity.reads == 4, "more than one read of the JWKS in an interval"
