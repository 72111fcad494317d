"""Descriptor screens (A6R-30 descriptor review, A6R-45 and A6R-56 issuing an authorization of a
serial range or of the units meeting conditions, possibly superseding an earlier one): the form
turned into the descriptors service's request, and the links from units to their review."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from web.adapters.backends import ServiceError
from web.domain.descriptors import (
    AUTHORIZATION_FIELDS,
    authorization_request,
    described,
    listed,
    review_url,
    supersedable,
)
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
        "conditions": None,
        "supersedes": None,
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


CONDITIONS = {
    "cooperative_approach": "CA0001",
    "covers": "conditions",
    "activity_id": "GH-CLEANCOOK-001",
    "metric": "tCO2e",
    "vintage_from": "2021",
    "vintage_to": "2025",
    "quantity_cap": "10,000",
    "approach_units": "yes",
    "dedication": "ndc_oimp",
    "oimp_first_transfer": "issuance",
}
EARLIER = "0b6f4c1e-3a54-4d55-9d7c-3c7f0c7d2a10"


def test_a6r45_an_authorization_of_the_units_meeting_conditions() -> None:
    body, errors = authorization_request(CONDITIONS, "GHA")
    assert errors == {}
    assert body == {
        "issuing_party": "GHA",
        "cooperative_approach": "CA0001",
        "dedication": "ndc_oimp",
        "oimp_first_transfer": "issuance",
        "units": [],
        "conditions": {
            "cooperative_approach": "CA0001",
            "activity_id": "GH-CLEANCOOK-001",
            "vintage_from": 2021,
            "vintage_to": 2025,
            "metric": "tCO2e",
            "quantity_cap": 10000,
        },
        "supersedes": None,
    }
    # Conditions left empty are no conditions; the serial range is not read for them.
    sparse = {"cooperative_approach": "CA0001", "covers": "conditions", "vintage_from": "2024", "dedication": "ndc",
              "range": "not a range"}  # fmt: skip
    body, errors = authorization_request(sparse, "GHA")
    assert errors == {} and body is not None
    assert body["conditions"] == {
        "cooperative_approach": None,
        "activity_id": None,
        "vintage_from": 2024,
        "vintage_to": None,
        "metric": None,
        "quantity_cap": None,
    }


def test_a6r45_problems_with_conditions_are_shown_at_their_fields() -> None:
    wrong = {**CONDITIONS, "vintage_from": "21", "vintage_to": "2025", "quantity_cap": "many"}
    _, errors = authorization_request(wrong, "GHA")
    assert set(errors) == {"vintage_from", "quantity_cap"}
    # Digits to str.isdigit that int() refuses: a 500 before.
    _, errors = authorization_request({**CONDITIONS, "vintage_from": "²⁰²⁴"}, "GHA")
    assert set(errors) == {"vintage_from"}
    _, errors = authorization_request({**CONDITIONS, "vintage_from": "2026", "quantity_cap": "0"}, "GHA")
    assert set(errors) == {"vintage_to", "quantity_cap"} and "2026" in errors["vintage_to"]
    nothing = {"covers": "conditions", "dedication": "ndc", "metric": ""}
    _, errors = authorization_request(nothing, "GHA")
    assert set(errors) == {"covers", "cooperative_approach"}
    _, errors = authorization_request({**CONDITIONS, "covers": "everything"}, "GHA")
    assert set(errors) == {"covers"}
    refusals = {
        "units_or_conditions": "covers",
        "malformed_conditions": "vintage_to",
        "marker_needs_units": "oimp_first_transfer",
        "unknown_descriptor": "supersedes",
        "already_superseded": "supersedes",
    }
    for code, field in refusals.items():
        assert set(field_errors(ServiceError(422, code, "refused"), AUTHORIZATION_FIELDS)) == {field}, code


def test_a6r56_an_authorization_supersedes_one_chosen_from_the_list() -> None:
    body, errors = authorization_request({**FORM, "supersedes": EARLIER}, "GHA")
    assert errors == {} and body is not None and body["supersedes"] == EARLIER
    _, errors = authorization_request({**FORM, "supersedes": "the one from May"}, "GHA")
    assert set(errors) == {"supersedes"}
    newer = {
        "descriptor_id": "2f1c3a9e-8b7d-4f61-a2c5-5d9e0b1f4c33",
        "created_at": "2026-03-13T09:30:00Z",
        "supersedes": EARLIER,
        "superseded_by": [],
        "document": {"authorization": {"dedication": "ndc", "conditions": {"vintage_from": 2024, "metric": None}}},
    }
    earlier = {
        "descriptor_id": EARLIER,
        "created_at": "2026-03-10T23:00:00Z",
        "supersedes": None,
        "superseded_by": [newer["descriptor_id"]],
        "superseded_from": "2026-03-14T00:00:00Z",
        "units": [{"scope": {"activity_id": "GH-CLEANCOOK-001"}, "first": 1, "last": 5000}],
        "document": {"authorization": {"dedication": "oimp", "oimp_first_transfer": "issuance"}},
    }
    rows = listed([newer, earlier])
    assert [(info["supersedes_issued"], info["superseded"], info["superseded_from"]) for _, info in rows] == [
        ("2026-03-10T23:00:00Z", False, None),
        (None, True, "2026-03-14T00:00:00Z"),
    ]
    # On a later page than the one superseding it, it is still shown superseded and not offered.
    assert [info["superseded"] for _, info in listed([earlier])] == [True]
    assert supersedable([earlier]) == []
    assert supersedable([newer, earlier]) == [
        (newer["descriptor_id"], "Issued 2026-03-13 09:30 UTC: NDC use, units meeting conditions: vintage from 2024")
    ]
    assert supersedable([{**earlier, "superseded_by": []}]) == [
        (
            EARLIER,
            "Issued 2026-03-10 23:00 UTC: Other international mitigation purposes (OIMP), "
            "GH-CLEANCOOK-001, serials 1 to 5,000",
        )
    ]


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
    stored = {
        "vintage_to": 2026,
        "metric": "tCO2e",
        "activity_id": "A",
        "quantity_cap": None,
    }  # as PostgreSQL keeps them
    conditional = described({"document": {"authorization": {"dedication": "ndc", "conditions": stored}}})
    assert list(conditional["conditions"].items()) == [("activity_id", "A"), ("vintage_to", 2026), ("metric", "tCO2e")]
