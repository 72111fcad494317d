"""Wiring of the identity service: users, credentials, MFA, tokens and grants."""

from __future__ import annotations

from identity.entrypoints import api_admin, api_grants, api_me, api_sessions, api_users
from identity.service_layer.unit import Identity
from identity.settings import IdentitySettings
from registry_platform.access_feed import ACCESS_TOPIC, access_topic_spec
from registry_platform.service import ServiceRuntime, app_factory, service_definition


async def start_identity(runtime: ServiceRuntime) -> None:
    settings = runtime.settings
    assert isinstance(settings, IdentitySettings)
    relay = runtime.relay
    identity = Identity(runtime.engine, settings, topic=runtime.topic, on_commit=relay.wake if relay else lambda: None)
    runtime.state["identity"] = identity
    # Identity's own endpoints accept the tokens it signs, whatever its key (rotation included).
    runtime.token_verifier.trust(identity.keys.jwks())


DEFINITION = service_definition(
    "identity",
    __file__,
    description="Users, identity verification, credentials, MFA, tokens, grants and external systems.",
    # Grant, session and user access changes, kept forever: every decision point reads them all.
    produces=[access_topic_spec(ACCESS_TOPIC)],
    routers=[api_sessions.router, api_me.router, api_users.router, api_grants.router, api_admin.router],
    on_start=start_identity,
)
create_app = app_factory(DEFINITION, IdentitySettings)
