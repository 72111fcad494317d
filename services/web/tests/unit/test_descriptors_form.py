"""Descriptor screens (A6R-30 descriptor review, A6R-45 issuing an authorization): the form turned
into the descriptors service's request, and the links from units to their review."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from web.adapters.backends import ServiceError
from web.domain.descriptors import AUTHORIZATION_FIELDS, authorization_request, described, review_url
from web.service_layer.messages import field_errors

FORM = {
    "cooperative_approach": "CA0001",
    "range": "CA0001-INT01-GHA-1-2024..CA0001-INT01-GHA-1000-2024",
    "activity_id": "GH-CLEANCOOK-001",
    "metric": "tCO2e",
    "dedication": "ndc",
}


def test_a6r45_an_authorization_of_a_serial_range() -> None:
    body, errors = authorization_request(FORM, "GHA")
    assert errors == {}
    assert body == {
        "issuing_party": "GHA",
        "cooperative_approach": "CA0001",
        "dedication": "ndc",
        "oimp_first_transfer": None,
        "units": [
            {
                "scope": {
                    "originating_registry": "INT01",
                    "issuing_party": "GHA",
                    "activity_id": "GH-CLEANCOOK-001",
                    "vintage": 2024,
                    "metric": "tCO2e",
                },
                "first": 1,
                "last": 1000,
            }
        ],
    }
    one, _ = authorization_request({**FORM, "range": "CA0001-INT01-GHA-7-2024"}, "GHA")
    assert one is not None and (one["units"][0]["first"], one["units"][0]["last"]) == (7, 7)


def test_a6r45_oimp_needs_its_first_transfer_and_problems_name_their_fields() -> None:
    _, errors = authorization_request({**FORM, "dedication": "ndc_oimp"}, "GHA")
    assert set(errors) == {"oimp_first_transfer"}
    body, _ = authorization_request({**FORM, "dedication": "oimp", "oimp_first_transfer": "issuance"}, "GHA")
    assert body is not None and body["oimp_first_transfer"] == "issuance"
    _, errors = authorization_request({"range": "CA0001-XX"}, "GHA")
    assert set(errors) == {"dedication", "activity_id", "range", "cooperative_approach"}
    _, other = authorization_request({**FORM, "cooperative_approach": "CA0002"}, "GHA")
    assert "CA0001" in other["range"]


def test_a6r45_refusals_of_the_descriptors_service_go_next_to_their_fields() -> None:
    missing = ServiceError(409, "unknown_units", "serials 1-1000 of GH-CLEANCOOK-001/2024 do not exist here")
    assert field_errors(missing, AUTHORIZATION_FIELDS) == {"range": missing.message[0].upper() + missing.message[1:]}
    outsider = ServiceError(422, "party_not_in_approach", "GHA takes no part in CA0002")
    assert set(field_errors(outsider, AUTHORIZATION_FIELDS)) == {"cooperative_approach"}


def test_a6r30_units_link_to_their_descriptor_review() -> None:
    block = {
        "first": 201,
        "last": 250,
        "scope": {
            "originating_registry": "INT01",
            "issuing_party": "GHA",
            "activity_id": "GH-CLEANCOOK-001",
            "vintage": 2024,
            "metric": "tCO2e",
        },
    }
    url = urlsplit(review_url(block))
    assert url.path == "/descriptors/units"
    assert parse_qs(url.query) == {
        "originating_registry": ["INT01"],
        "issuing_party": ["GHA"],
        "activity_id": ["GH-CLEANCOOK-001"],
        "vintage": ["2024"],
        "metric": ["tCO2e"],
        "first": ["201"],
        "last": ["250"],
    }


def test_a6r30_a_descriptor_described() -> None:
    authorization = {
        "kind": "authorization",
        "units": [{"first": 1, "last": 5}],
        "document": {"authorization": {"dedication": "ndc_oimp", "oimp_first_transfer": "use_or_cancellation"}},
    }
    info = described(authorization)
    assert info["dedication"] == "Both NDC use and OIMP"
    assert info["oimp_first_transfer"] == "Their use or cancellation"
    assert info["units"] == [{"first": 1, "last": 5}]
    marker = described({"kind": "first_transfer", "document": {"first_transfer": {"basis": "oimp_issuance"}}})
    assert marker["basis"] == "oimp issuance" and marker["dedication"] == ""
