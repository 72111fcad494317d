"""Verdicts signed by the rules service and bound to the proposal they answer (A6R-38, A6R-47)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_contracts.events.rules import VerdictGiven
from registry_contracts.signing import SignatureInvalid
from registry_contracts.verdicts import (
    DEV_VERDICT_SEED,
    check_verdict,
    proposal_digest,
    sign_verdict,
    verdict_key,
    verdict_public_key,
    verdict_signer,
)

PROPOSAL = {"transaction_id": "t-1", "kind": "transfer", "quantity": 10, "proposed_at": "2026-11-29T12:00:00Z"}
VERDICT = {
    "transaction_id": "t-1",
    "outcome": "accept",
    "rules": [],
    "denials": [],
    "broken_rules": [],
    "supplementary_operations": [],
    "proposed_at": "2026-11-29T12:00:00Z",
    "evaluated_at": "2026-11-29T12:00:01Z",
    "catalogue_sequence": 3,
}
SIGNER = verdict_signer(DEV_VERDICT_SEED)
KEY = verdict_public_key(verdict_key(DEV_VERDICT_SEED))


def test_a6r38_a_signed_verdict_checks_against_its_proposal_and_fits_the_event_schema() -> None:
    signed = sign_verdict(VERDICT, PROPOSAL, SIGNER)
    check_verdict(signed, KEY, proposal_digest(PROPOSAL))
    VerdictGiven.model_validate(signed)
    # Signing again (a repeat of the same verdict) changes nothing Ed25519 would not.
    assert sign_verdict(signed, PROPOSAL, SIGNER) == signed


@given(field=st.sampled_from(sorted(VERDICT)), value=st.one_of(st.integers(), st.text(), st.none()))
def test_a6r38_any_change_to_a_signed_verdict_is_refused(field: str, value: object) -> None:
    signed = sign_verdict(VERDICT, PROPOSAL, SIGNER)
    if signed[field] == value:
        return
    with pytest.raises(SignatureInvalid):
        check_verdict({**signed, field: value}, KEY, proposal_digest(PROPOSAL))


def test_a6r47_a_verdict_on_another_proposal_unsigned_or_by_another_key_is_refused() -> None:
    signed = sign_verdict(VERDICT, PROPOSAL, SIGNER)
    other = {**PROPOSAL, "quantity": 11}
    with pytest.raises(SignatureInvalid, match="another proposal"):
        check_verdict(signed, KEY, proposal_digest(other))
    unsigned = {k: v for k, v in signed.items() if k != "signature"}
    with pytest.raises(SignatureInvalid, match="not signed"):
        check_verdict(unsigned, KEY, proposal_digest(PROPOSAL))
    forged = sign_verdict(VERDICT, PROPOSAL, verdict_signer("someone else"))
    with pytest.raises(SignatureInvalid):
        check_verdict(forged, KEY, proposal_digest(PROPOSAL))


@pytest.mark.parametrize("text", ["", "abc", verdict_key(DEV_VERDICT_SEED) + "A", "!" * 43])
def test_a6r38_a_verdict_key_that_is_no_ed25519_public_key_is_named(text: str) -> None:
    with pytest.raises(ValueError, match="43 base64url characters"):
        verdict_public_key(text)
