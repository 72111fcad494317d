"""The external system registration form (A6R-8): what it asks for, and identity's request."""

from __future__ import annotations

import json

from web.domain.external_systems import registration_body, registration_problems

JWK = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
FORM = {
    "name": "Ghana national registry",
    "public_jwk": json.dumps(JWK),
    "assessor": "Registry security office",
    "assessment_date": "2026-11-20",
    "level": "medium",
    "mitigations": "mutual TLS; IP allow-list ;",
    "scope_section": "gha",
}


def test_a6r8_a_complete_form_becomes_identitys_request() -> None:
    assert registration_problems(FORM) == {}
    assert registration_body(FORM) == {
        "name": "Ghana national registry",
        "public_jwk": JWK,
        "risk_assessment": {
            "assessor": "Registry security office",
            "date": "2026-11-20",
            "level": "medium",
            "mitigations": ["mutual TLS", "IP allow-list"],
        },
        "scopes": [{"section": "GHA", "account": None, "cooperative_approach": None}],
    }


def test_a6r8_each_missing_or_unreadable_part_is_named_at_its_field() -> None:
    problems = registration_problems({"public_jwk": "[1, 2]", "level": "extreme"})
    assert set(problems) == {"name", "public_jwk", "assessor", "assessment_date", "level", "scope_section"}
    assert "JSON object" in problems["public_jwk"]
    assert "JSON object" in registration_problems({**FORM, "public_jwk": "{not json"})["public_jwk"]
