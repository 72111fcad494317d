"""The rules service's verdicts, signed and bound to the proposal they answer (A6R-38, A6R-47).

Whoever can write to the broker could otherwise publish a `rules.VerdictGiven` of their own: accept
what the rules deny, deny what they accept, or order supplementary operations that move units
anywhere. So the rules service signs every verdict with a key of its own (Ed25519 over the
domain-separated RFC 8785 JSON of the payload without its `signature`), and the payload names the
SHA-256 of the `rules.ProposalSubmitted` payload it answers (`proposal_digest`). The ledger applies
a verdict only if the rules service's public key verifies it and the digest is that of the proposal
the ledger published for that transaction: a genuine verdict on a proposal someone else published
under the same transaction id is refused too.

    python -m registry_contracts.verdicts

prints a new seed for the rules service (REGISTRY_VERDICT_SIGNING_SEED) and the public key the
ledger checks its verdicts with (REGISTRY_RULES_VERDICT_KEY).
"""

import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

from registry_contracts.canonical import canonical_json
from registry_contracts.signing import (
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

DOMAIN = b"a6r-rules-verdict\x00"
# The development seed: production settings refuse it, and the key derived from it.
DEV_VERDICT_SEED = "dev-only-rules-verdict-seed"


def verdict_signer(seed: str) -> Ed25519Signer:
    """The rules service's verdict key, from its seed (domain-separated from every other key)."""
    return Ed25519Signer.from_seed(hashlib.sha256(DOMAIN + seed.encode()).digest())


def verdict_key(seed: str) -> str:
    """The public key of `seed`'s verdict key, as the ledger is given it: 43 base64url characters."""
    return b64url_encode(verdict_signer(seed).public_key_bytes)


def verdict_public_key(x: str) -> PublicKey:
    """The verdict key from its 43 base64url characters, or ValueError naming what is wrong."""
    try:
        raw = b64url_decode(x)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ValueError(
            "the rules service's verdict key is an Ed25519 public key: 43 base64url characters, unpadded, "
            "as `python -m registry_contracts.verdicts` prints it"
        )
    return PublicKey(ED25519, key_id(ED25519, raw), raw)


def proposal_digest(payload: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a `rules.ProposalSubmitted` payload as it goes on the wire."""
    return hashlib.sha256(canonical_json(payload)).hexdigest()


def _unsigned(verdict: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in verdict.items() if k != "signature"}


def sign_verdict(verdict: Mapping[str, Any], proposal: Mapping[str, Any], signer: Ed25519Signer) -> dict[str, Any]:
    """`verdict` (a VerdictGiven payload) bound to the `proposal` payload it answers, and signed."""
    bound = {**_unsigned(verdict), "proposal_digest": proposal_digest(proposal)}
    return {**bound, "signature": signer.sign(DOMAIN + canonical_json(bound)).to_dict()}


def check_verdict(verdict: Mapping[str, Any], key: PublicKey, digest: str) -> None:
    """Return if the rules service signed `verdict` for the proposal whose digest is `digest`;
    raise SignatureInvalid saying why not otherwise."""
    signature = verdict.get("signature")
    if not isinstance(signature, Mapping):
        raise SignatureInvalid("the verdict is not signed")
    try:
        message = DOMAIN + canonical_json(_unsigned(verdict))
    except (ValueError, TypeError) as exc:
        # Nothing the rules service signs: it signs canonical JSON (e.g. no integer past 2**53).
        raise SignatureInvalid("the verdict is no JSON the rules service signs") from exc
    KeyRing([key]).verify(Signature.from_dict(signature), message)
    if verdict.get("proposal_digest") != digest:
        raise SignatureInvalid("the verdict answers another proposal than the one published for its transaction")


def main() -> None:
    seed = secrets.token_urlsafe(48)
    print("# the rules service's environment (never another service's):")
    print(f"REGISTRY_VERDICT_SIGNING_SEED={seed}")
    print("# the ledger's environment:")
    print(f"REGISTRY_RULES_VERDICT_KEY={verdict_key(seed)}")


if __name__ == "__main__":
    main()
