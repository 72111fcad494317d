"""A running identity service (real HTTP, PostgreSQL and broker) with a controlled clock, and a
harness that walks users through the real flows: creation, verification, activation, sign-in."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import text

from identity.bootstrap import DEFINITION
from identity.domain import totp
from identity.service_layer.bootstrap_admin import first_system_administrator
from identity.service_layer.unit import Identity
from identity.settings import IdentitySettings
from registry_contracts.envelope import EventEnvelope
from registry_platform.auth import REGISTRY_SERVICE, TokenVerifier
from registry_platform.service import create_app
from registry_platform.testing.infra import serve_app


class TestClock:
    """Real time plus an offset that tests move; it starts 90 s behind, so that moving it forward
    a little never mints tokens 'issued in the future' for the real-time verifier."""

    def __init__(self) -> None:
        self.offset = timedelta(seconds=-90)
        self.frozen: datetime | None = None

    def __call__(self) -> datetime:
        return self.frozen if self.frozen is not None else datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)
        if self.frozen is not None:
            self.frozen += timedelta(seconds=seconds)

    def freeze(self) -> None:
        self.frozen = self()

    def reset(self) -> None:
        self.offset, self.frozen = timedelta(seconds=-90), None


@dataclass
class User:
    id: str
    email: str
    password: str = ""
    totp_secret: str = ""
    recovery_codes: list[str] = field(default_factory=list)
    last_step: int = -1
    client: str = "10.0.0.1"


@dataclass
class Harness:
    http: httpx.AsyncClient
    identity: Identity
    clock: TestClock
    settings: IdentitySettings

    def totp(self, user: User) -> str:
        """The next code the user's app shows whose step was not used yet: the current step or the
        next one, never the previous, which the service stops accepting if its clock ticks over
        between this call and the request."""
        current = totp.step_at(self.clock())
        step = max(user.last_step + 1, current)
        if step > current + 1:
            self.clock.advance(30)
            step = max(user.last_step + 1, totp.step_at(self.clock()))
        user.last_step = step
        return totp.code_at(user.totp_secret, step)

    async def call(
        self, method: str, path: str, token: str | None = None, client: str = "10.0.0.9", **kw: Any
    ) -> httpx.Response:
        headers = {"X-Forwarded-For": client, **kw.pop("headers", {})}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return await self.http.request(method, path, headers=headers, **kw)

    async def ok(self, method: str, path: str, token: str | None = None, status: int = 200, **kw: Any) -> Any:
        response = await self.call(method, path, token, **kw)
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    async def enrol(self, user: User, token: str, code: str, password: str | None = None) -> User:
        started = await self.ok("POST", "/activation", json={"token": token, "code": code}, client=user.client)
        user.totp_secret = started["totp_secret"]
        user.password = password or f"violet-harbour-{user.id[:8]}-tractor"
        done = await self.ok(
            "POST",
            "/activation/complete",
            json={
                "enrolment_token": started["enrolment_token"],
                "password": user.password,
                "totp_code": self.totp(user),
            },
        )
        user.recovery_codes = done["recovery_codes"]
        return user

    async def sign_in(self, user: User) -> dict[str, Any]:
        first = await self.ok(
            "POST", "/sessions", json={"email": user.email, "password": user.password}, client=user.client
        )
        return await self.ok(  # type: ignore[no-any-return]
            "POST",
            "/sessions/mfa",
            json={"challenge_id": first["challenge_id"], "method": "totp", "code": self.totp(user)},
            client=user.client,
        )

    async def aged(self, signed_in: dict[str, Any]) -> dict[str, Any]:
        """The session's tokens refreshed after its second factor was proven ten minutes ago: too
        long for an elevated operation, which then asks for a step-up."""
        async with self.identity.engine.begin() as conn:
            await conn.execute(
                text("UPDATE sessions SET auth_time = auth_time - interval '10 minutes' WHERE id = :s"),
                {"s": signed_in["session_id"]},
            )
        return await self.ok("POST", "/sessions/refresh", json={"refresh_token": signed_in["refresh_token"]})  # type: ignore[no-any-return]

    async def token(self, user: User) -> str:
        return str((await self.sign_in(user))["access_token"])

    async def bootstrap(self, email: str = "root@registry.example") -> User:
        made = await first_system_administrator(self.identity, email=email, name="Root Operator")
        user = User(made["user_id"], email)
        token = parse_qs(urlparse(made["link"]).query)["token"][0]
        return await self.enrol(user, token, made["code"])

    async def outbound(self, user_id: str, purpose: str) -> str:
        async with self.identity.read() as conn:
            body = await conn.scalar(
                text("SELECT body FROM outbound_messages WHERE user_id = :u AND purpose = :p ORDER BY id DESC LIMIT 1"),
                {"u": user_id, "p": purpose},
            )
        return str(body)

    async def new_user(self, admin_token: str, email: str, name: str, dob: str = "1980-01-01") -> User:
        created = await self.ok(
            "POST",
            "/users",
            admin_token,
            status=201,
            json={
                "email": email,
                "name": name,
                "date_of_birth": dob,
                "nationality": "GHA",
                "affiliations": ["Ministry"],
                "contacts": [{"kind": "email", "value": email}, {"kind": "phone", "value": "+233201234567"}],
            },
        )
        return User(created["user_id"], email)

    async def onboard(self, admin_token: str, email: str, name: str) -> User:
        """Create, verify, send an activation and let the user enrol: a user without any grant."""
        user = await self.new_user(admin_token, email, name)
        await self.ok(
            "POST",
            f"/users/{user.id}/verifications",
            admin_token,
            status=201,
            json={
                "outcome": "verified",
                "evidence": [
                    {
                        "type": "government_id",
                        "document_type": "passport",
                        "issuing_country": "GHA",
                        "document_number": user.id[:9],
                    }
                ],
            },
        )
        await self.ok("POST", f"/users/{user.id}/activations", admin_token, status=201)
        link = await self.outbound(user.id, "activation_link")
        code = await self.outbound(user.id, "activation_code")
        return await self.enrol(user, parse_qs(urlparse(link).query)["token"][0], code)

    async def grant(self, token: str, user: User, role: str, **scope: str) -> dict[str, Any]:
        return await self.ok("POST", "/grants", token, status=201, json={"user_id": user.id, "role": role, **scope})  # type: ignore[no-any-return]


def claims(token: str) -> dict[str, Any]:
    from registry_contracts.signing import b64url_decode

    return json.loads(b64url_decode(token.split(".")[1]))  # type: ignore[no-any-return]


async def access_events(settings: IdentitySettings, want: int, timeout: float = 10.0) -> list[EventEnvelope]:
    """At least `want` events of the identity.access topic, read from its beginning."""
    topic = settings.topic("identity.access")
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    events: list[EventEnvelope] = []
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or (0, 1, 2)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        deadline = asyncio.get_running_loop().time() + timeout
        while len(events) < want and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                events += [EventEnvelope.from_bytes(r.value or b"") for r in records]
    finally:
        await consumer.stop()
    return events


@contextlib.asynccontextmanager
async def _serving(settings: IdentitySettings, verifier: TokenVerifier | None = None) -> AsyncIterator[Harness]:
    app = create_app(DEFINITION, settings)
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        for _ in range(300):
            if (await http.get("/ready")).status_code == 200:
                break
            await asyncio.sleep(0.05)
        identity = app.state.runtime.state["identity"]
        if verifier is not None:
            verifier.trust(identity.keys.jwks())
            app.state.token_verifier = verifier
        clock = TestClock()
        identity.clock = clock
        yield Harness(http, identity, clock, settings)


def _settings(service_settings, **overrides: Any) -> IdentitySettings:  # type: ignore[no-untyped-def]
    return service_settings(  # type: ignore[no-any-return]
        "identity",
        IdentitySettings,
        argon2_time_cost=1,
        argon2_memory_kib=8192,
        trusted_proxies=["127.0.0.1"],
        **overrides,
    )


@pytest.fixture
async def idp(service_settings) -> AsyncIterator[Harness]:  # type: ignore[no-untyped-def]
    async with _serving(_settings(service_settings)) as harness:
        yield harness


@pytest.fixture
def serve(service_settings):  # type: ignore[no-untyped-def]
    """Start identity with these settings overrides on the test's database; start it again to see
    what survives a restart."""

    def start(**overrides: Any) -> contextlib.AbstractAsyncContextManager[Harness]:
        return _serving(_settings(service_settings, **overrides))

    return start


@pytest.fixture
async def idp_own_key(service_settings) -> AsyncIterator[Harness]:  # type: ignore[no-untyped-def]
    """Identity signing with its own key while the shared key signs service tokens only, as in
    production (the rest of production's settings stay out of the way of the harness)."""
    settings = _settings(service_settings, signing_seed="identity's own signing seed")
    verifier = TokenVerifier.for_dev_secret(
        settings.token_secret.get_secret_value(), shared_key_roles=frozenset({REGISTRY_SERVICE})
    )
    async with _serving(settings, verifier) as harness:
        yield harness


@dataclass
class World:
    """A system administrator, a registry administrator, a GHA section administrator and a GHA
    section user, each enrolled through the real flows, with fresh access tokens."""

    root: User
    regadmin: User
    gha_admin: User
    user: User
    tokens: dict[str, str]
    user_grant: dict[str, Any]


async def make_world(h: Harness) -> World:
    root = await h.bootstrap()
    root_token = await h.token(root)
    regadmin = await h.onboard(root_token, "reg@registry.example", "Rita Registrar")
    await h.grant(root_token, regadmin, "registry_administrator")
    reg_token = await h.token(regadmin)
    gha_admin = await h.onboard(reg_token, "sam@gha.example", "Sam Mensah")
    await h.grant(reg_token, gha_admin, "section_administrator", section="GHA")
    gha_token = await h.token(gha_admin)
    user = await h.onboard(reg_token, "ama@gha.example", "Ama Owusu")
    user_grant = await h.grant(gha_token, user, "section_user", section="GHA")
    tokens = {"root": root_token, "regadmin": reg_token, "gha_admin": gha_token, "user": await h.token(user)}
    return World(root, regadmin, gha_admin, user, tokens, user_grant)
