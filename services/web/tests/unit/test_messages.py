"""Service refusals in plain language, next to the field they concern (issue 7, item 7)."""

from __future__ import annotations

from web.adapters.backends import ServiceError
from web.service_layer.messages import ACTION, field_errors, plain


def test_a_refusal_code_goes_to_its_field() -> None:
    exc = ServiceError(409, "insufficient_units", "account GHA-1 holds 10 units, not 20", {"rule": "builtin.x@1"})
    assert field_errors(exc, {"insufficient_units": "quantity"}) == {
        "quantity": "Account GHA-1 holds 10 units, not 20 (rule builtin.x@1)"
    }


def test_an_unmapped_refusal_goes_beside_the_action() -> None:
    exc = ServiceError(403, "not_authorized", "raw", {})
    assert field_errors(exc, {})[ACTION].startswith("Your user authorizations do not allow this")


def test_validation_problems_are_said_plainly_per_field() -> None:
    problems = [
        {"field": "body.create_section.party", "problem": "String should match pattern '^[A-Z]{3}$'"},
        {"field": "body.create_section.name", "problem": "Field required"},
        {"field": "body.create_section.extra", "problem": "Input should be greater than or equal to 1"},
    ]
    exc = ServiceError(422, "invalid_request", "The request is not valid", {"problems": problems})
    errors = field_errors(exc, {"party": "party", "name": "name"})
    assert errors == {
        "party": "must be a three-letter code in capitals, e.g. GHA",
        "name": "is required",
        ACTION: "Extra must be at least 1",
    }
    assert plain("Value error, first serial 5 is after last serial 2") == "first serial 5 is after last serial 2"


def test_a6r51_a_grant_on_another_sections_account_is_said_at_the_account_field() -> None:
    from web.entrypoints.people import GRANT_FIELDS

    exc = ServiceError(422, "account_not_in_section", "Account KEN-100001 is not in section GHA.", {})
    assert field_errors(exc, GRANT_FIELDS) == {"account": "Account KEN-100001 is not in section GHA."}
