"""Identity's signing keys and JWKS: the dev default is the dev issuer's key; rotation publishes
earlier public keys; kid is the RFC 7638 thumbprint."""

from joserfc.jwk import OKPKey

from identity.adapters.keys import SigningKeys
from identity.settings import IdentitySettings
from registry_platform.auth import Grant, TokenVerifier, dev_signing_key
from registry_platform.settings import DEV_TOKEN_SECRET


def test_dev_default_signs_with_the_dev_issuer_key() -> None:
    keys = SigningKeys.from_settings(IdentitySettings(mode="test"))
    assert keys.kid == dev_signing_key(DEV_TOKEN_SECRET).thumbprint()
    token = keys.mint("u1", [Grant("section_user", section="GHA", id="g1")], session="s1", amr=("pwd", "otp"))
    principal = TokenVerifier.for_dev_secret(DEV_TOKEN_SECRET).verify(token)
    assert principal.subject == "u1" and principal.session == "s1" and principal.grants[0].id == "g1"


def test_rotation_publishes_previous_keys_and_verifies_with_the_jwks() -> None:
    old = OKPKey.generate_key("Ed25519")
    keys = SigningKeys.from_settings(
        IdentitySettings(mode="test", signing_seed="new-seed", previous_public_keys=[old.as_dict(private=False)])
    )
    jwks = keys.jwks()
    assert [k["kid"] for k in jwks["keys"]] == [keys.kid, old.thumbprint()]
    assert all("d" not in k for k in jwks["keys"])
    verifier = TokenVerifier(keys.key_set())
    assert verifier.verify(keys.mint("u2", [])).subject == "u2"


def test_production_requires_real_seeds() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        IdentitySettings(mode="production", token_secret="x" * 40)
