"""The web verifies identity's tokens as the services do: a token signed with a key identity has just
rotated to is accepted at once, after reading identity's JWKS again (A6R-43)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from registry_platform.auth import REGISTRY_ADMINISTRATOR, Grant, TokenVerifier, dev_signing_key, issue_token
from registry_platform.errors import RegistryError
from registry_platform.jwks import IdentityKeys
from web.bootstrap import start_web
from web.service_layer import tokens
from web.settings import WebSettings

from .conftest import MemoryStore

SECRET = "web unit tests"


class RotatedIdentity(IdentityKeys):
    """Identity's JWKS after rotation to `seed`'s key, read without HTTP; counts the reads."""

    def __init__(self, verifier: TokenVerifier, seed: str) -> None:
        super().__init__("http://identity.invalid/.well-known/jwks.json", verifier, min_interval=60)
        key = dev_signing_key(seed)
        self.jwks = {"keys": [{**key.as_dict(private=False), "kid": key.thumbprint()}]}
        self.reads = 0

    async def _read(self) -> None:
        self.reads += 1
        self._verifier.trust(self.jwks)


def _context(verifier: TokenVerifier, keys: IdentityKeys | None) -> Any:
    return SimpleNamespace(sessions=MemoryStore(), verifier=verifier, identity_keys=keys)


def _answer(seed: str) -> dict[str, Any]:
    return {"access_token": issue_token(dev_signing_key(seed), "rita", [Grant(REGISTRY_ADMINISTRATOR)])}


async def test_a6r43_a_token_signed_with_identitys_new_key_is_accepted_at_sign_in() -> None:
    """Before, the web verified with the keys it held: users signing in right after identity's
    rotation were refused until the next periodic read of the JWKS, up to a minute later."""
    verifier = TokenVerifier.for_dev_secret(SECRET)
    keys = RotatedIdentity(verifier, "identity's new key")
    record = await tokens.auth_record(_context(verifier, keys), _answer("identity's new key"))
    assert record["sub"] == "rita" and record["grants"] == [{"role": REGISTRY_ADMINISTRATOR}]
    assert keys.reads == 1
    await tokens.auth_record(_context(verifier, keys), _answer("identity's new key"))
    assert keys.reads == 1, "a key known already needs no read"


async def test_a_token_signed_with_a_key_identity_does_not_publish_is_still_refused() -> None:
    verifier = TokenVerifier.for_dev_secret(SECRET)
    keys = RotatedIdentity(verifier, "identity's new key")
    with pytest.raises(RegistryError) as refused:
        await tokens.claims(_context(verifier, keys), _answer("made up")["access_token"])
    assert refused.value.status == 401 and keys.reads == 1


async def test_without_a_jwks_url_the_web_verifies_with_its_own_keys() -> None:
    verifier = TokenVerifier.for_dev_secret(SECRET)
    claims = await tokens.claims(_context(verifier, None), _answer(SECRET)["access_token"])
    assert claims["sub"] == "rita"
    with pytest.raises(RegistryError):
        await tokens.claims(_context(verifier, None), _answer("identity's new key")["access_token"])


async def test_the_web_follows_the_jwks_its_runtime_reads() -> None:
    verifier = TokenVerifier.for_dev_secret(SECRET)
    keys = RotatedIdentity(verifier, "identity's new key")
    runtime = SimpleNamespace(
        settings=WebSettings(service_name="web", mode="test"),
        engine=None,
        state={},
        token_verifier=verifier,
        identity_keys=keys,
        spawn=lambda name, task: None,
    )
    await start_web(runtime)  # type: ignore[arg-type]
    ctx = runtime.state["web"]
    await ctx.backends.client.aclose()
    assert ctx.verifier is verifier and ctx.identity_keys is keys
