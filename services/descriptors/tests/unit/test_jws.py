"""Descriptors are signed as compact JWS (EdDSA/Ed25519 with kid) that any JOSE library verifies."""

from __future__ import annotations

import json

import pytest
from joserfc import jws as jose_jws
from joserfc.jwk import OKPKey

from descriptors.adapters import jws
from descriptors.settings import DescriptorsSettings
from registry_contracts.signing import Ed25519Signer, b64url_decode

DOCUMENT = {"descriptor_id": "d-1", "kind": "authorization", "vintage": 2024, "units": [{"first": 1, "last": 9}]}


def test_a6r53_signed_descriptor_verifies_with_the_registered_key() -> None:
    signer = Ed25519Signer.generate()
    token = jws.sign(signer, DOCUMENT)
    header = json.loads(b64url_decode(token.split(".")[0]))
    assert header == {"alg": "Ed25519", "kid": signer.kid, "typ": jws.TYP}
    verified = jws.verify(token, jws.key_ring([jws.public_jwk(signer)]))
    assert verified.payload == DOCUMENT and verified.kid == signer.kid


def test_a6r53_any_jose_library_verifies_the_signature() -> None:
    signer = Ed25519Signer.generate()
    token = jws.sign(signer, DOCUMENT)
    key = OKPKey.import_key(jws.public_jwk(signer))
    result = jose_jws.deserialize_compact(token, key, algorithms=["Ed25519"])
    assert json.loads(result.payload) == DOCUMENT


def test_a6r53_tampered_payload_or_foreign_key_is_refused() -> None:
    signer, other = Ed25519Signer.generate(), Ed25519Signer.generate()
    token = jws.sign(signer, DOCUMENT)
    head, _, signature = token.split(".")
    forged = jws.sign(signer, {**DOCUMENT, "vintage": 2025}).split(".")[1]
    with pytest.raises(jws.SignatureInvalid):
        jws.verify(f"{head}.{forged}.{signature}", jws.key_ring([jws.public_jwk(signer)]))
    with pytest.raises(jws.SignatureInvalid, match="unknown key"):
        jws.verify(token, jws.key_ring([jws.public_jwk(other)]))
    with pytest.raises(jws.MalformedJws):
        jws.verify("not-a-jws", jws.key_ring([]))


def test_a6r45_settings_window_per_approach_and_refuse_dev_seed_in_production() -> None:
    settings = DescriptorsSettings(applicability={"CA0002": {"min_delay_hours": 36}})
    assert settings.window_for("CA0002").min_delay.total_seconds() == 36 * 3600
    assert settings.window_for("CA0001").min_delay.total_seconds() == 12 * 3600
    with pytest.raises(ValueError, match="DESCRIPTOR_SIGNING_SEED"):
        DescriptorsSettings(mode="production", token_secret="x" * 40)


def test_a6r53_in_production_a_pulled_peer_needs_the_token_it_issued_for_this_registry() -> None:
    """Without one, the pull would send the peer this registry's own service token, valid here."""
    production = {"mode": "production", "token_secret": "x" * 40, "descriptor_signing_seed": "y" * 40}
    with pytest.raises(ValueError, match="CHE01 have a feed url but no token"):
        DescriptorsSettings(**production, peers=[{"registry": "CHE01", "url": "https://che.example"}])
    pulled = {"registry": "CHE01", "url": "https://che.example", "token": "issued-by-che"}
    assert DescriptorsSettings(**production, peers=[pulled]).peers[0].token is not None
    assert DescriptorsSettings(**production, peers=[{"registry": "CHE01"}]).peers[0].url == ""
