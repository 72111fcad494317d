"""Signatures naming algorithm and key: provable integrity (A6R-21) of journal checkpoints (A6R-48),
descriptors (A6R-45) and inter-registry messages (A6R-34)."""

import pytest

from registry_contracts.signing import (
    ALGORITHMS,
    ED25519,
    Ed25519Signer,
    KeyRing,
    PublicKey,
    Signature,
    SignatureInvalid,
    b64url_decode,
    b64url_encode,
    key_id,
)

# RFC 8037 appendix A: an Ed25519 key, its RFC 7638 thumbprint and a JWS signature by it.
RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
RFC8037_SIGNING_INPUT = b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
RFC8037_SIGNATURE = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"

MESSAGE = b"checkpoint: tree size 42"


@pytest.fixture
def signer() -> Ed25519Signer:
    return Ed25519Signer.from_seed(b64url_decode(RFC8037_D))


@pytest.fixture
def ring(signer: Ed25519Signer) -> KeyRing:
    return KeyRing([signer.public_key()])


def test_a6r21_rfc8037_vector(signer: Ed25519Signer) -> None:
    assert b64url_encode(signer.public_key_bytes) == RFC8037_X
    assert signer.kid == key_id(ED25519, signer.public_key_bytes) == RFC8037_THUMBPRINT
    assert signer.sign(RFC8037_SIGNING_INPUT) == Signature(ED25519, RFC8037_THUMBPRINT, RFC8037_SIGNATURE)


def test_a6r21_sign_and_verify(signer: Ed25519Signer, ring: KeyRing) -> None:
    signature = signer.sign(MESSAGE)
    assert (signature.alg, signature.kid) == ("Ed25519", signer.kid)
    ring.verify(signature, MESSAGE)
    assert Signature.from_dict(signature.to_dict()) == signature


def test_a6r21_tampered_message_is_detected(signer: Ed25519Signer, ring: KeyRing) -> None:
    signature = signer.sign(MESSAGE)
    with pytest.raises(SignatureInvalid, match="does not verify"):
        ring.verify(signature, MESSAGE + b"!")


def test_a6r21_tampered_signature_is_detected(signer: Ed25519Signer, ring: KeyRing) -> None:
    raw = bytearray(b64url_decode(signer.sign(MESSAGE).value))
    raw[0] ^= 1
    forged = Signature(ED25519, signer.kid, b64url_encode(bytes(raw)))
    with pytest.raises(SignatureInvalid, match="does not verify"):
        ring.verify(forged, MESSAGE)


def test_a6r21_signature_by_another_key_under_a_known_kid_fails(signer: Ed25519Signer, ring: KeyRing) -> None:
    impostor = Ed25519Signer.generate(kid=signer.kid)
    with pytest.raises(SignatureInvalid, match="does not verify"):
        ring.verify(impostor.sign(MESSAGE), MESSAGE)


def test_a6r34_unknown_kid_is_refused(ring: KeyRing) -> None:
    stranger = Ed25519Signer.generate()
    with pytest.raises(SignatureInvalid, match="unknown key id"):
        ring.verify(stranger.sign(MESSAGE), MESSAGE)


def test_a6r34_algorithm_mismatch_is_refused(signer: Ed25519Signer, ring: KeyRing) -> None:
    signature = signer.sign(MESSAGE)
    relabelled = Signature("ML-DSA-65", signature.kid, signature.value)
    with pytest.raises(SignatureInvalid, match="is for Ed25519"):
        ring.verify(relabelled, MESSAGE)


@pytest.mark.parametrize(
    "value",
    ["", "not base64!", RFC8037_SIGNATURE + "==", RFC8037_SIGNATURE[:-2], RFC8037_SIGNATURE[:-1] + "h"],
)
def test_a6r21_bad_signature_bytes_are_refused(signer: Ed25519Signer, ring: KeyRing, value: str) -> None:
    with pytest.raises(SignatureInvalid):
        ring.verify(Signature(ED25519, signer.kid, value), RFC8037_SIGNING_INPUT)


@pytest.mark.parametrize(
    "data",
    [
        {"alg": "Ed25519", "kid": "k"},
        {"alg": "Ed25519", "kid": "k", "value": 1},
        {"a": 1, "kid": "k", "value": "v"},
    ],
)
def test_a6r21_malformed_signature_records_are_refused(data: dict[str, object]) -> None:
    with pytest.raises(SignatureInvalid):
        Signature.from_dict(data)


def test_a6r21_unsupported_algorithm_key_is_refused() -> None:
    with pytest.raises(SignatureInvalid, match="unsupported"):
        KeyRing([PublicKey("RS256", "k", b"\x00" * 32)])


def test_a6r21_a_kid_cannot_be_rebound(signer: Ed25519Signer) -> None:
    other = Ed25519Signer.generate(kid=signer.kid)
    with pytest.raises(ValueError, match="already bound"):
        KeyRing([signer.public_key(), other.public_key()])


def test_a6r21_algorithms_are_a_registry() -> None:
    assert set(ALGORITHMS) == {ED25519}
    assert ALGORITHMS[ED25519].jwk(b"\x01" * 32)["kty"] == "OKP"


def test_a6r21_seed_must_be_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Ed25519Signer.from_seed(b"\x00" * 31)
