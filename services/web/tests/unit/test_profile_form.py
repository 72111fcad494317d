"""A user's own profile form turned into identity's change request (A6R-11)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from web.domain.people_forms import profile_change, profile_fields

PROFILE = {
    "name": "Ama Owusu",
    "affiliations": ["Ministry of Environment"],
    "contacts": [
        {"kind": "email", "value": "ama@gha.example"},
        {"kind": "phone", "value": "+233201234567"},
        {"kind": "email", "value": "ama.owusu@home.example"},
    ],
}


def test_a6r11_the_unchanged_form_requests_nothing() -> None:
    assert profile_change(profile_fields(PROFILE), PROFILE) == {}


def test_a6r11_only_what_differs_is_requested() -> None:
    form = {**profile_fields(PROFILE), "name": "Ama Owusu-Mensah"}
    assert profile_change(form, PROFILE) == {"name": "Ama Owusu-Mensah"}


def test_a6r11_affiliations_are_separated_by_semicolons_without_empty_ones() -> None:
    form = {**profile_fields(PROFILE), "affiliations": "Ministry of Environment;;  Accra Cookstoves  ;"}
    assert profile_change(form, PROFILE) == {"affiliations": ["Ministry of Environment", "Accra Cookstoves"]}


def test_a6r11_the_form_edits_the_first_contact_of_each_kind_and_keeps_the_others() -> None:
    form = {**profile_fields(PROFILE), "phone": "+233209999999", "postal": "1 Ring Road, Accra, Ghana"}
    assert profile_change(form, PROFILE) == {
        "contacts": [
            {"kind": "email", "value": "ama@gha.example"},
            {"kind": "phone", "value": "+233209999999"},
            {"kind": "postal", "value": "1 Ring Road, Accra, Ghana"},
            {"kind": "email", "value": "ama.owusu@home.example"},
        ]
    }


def test_a6r11_an_emptied_contact_field_drops_that_contact() -> None:
    form = {**profile_fields(PROFILE), "phone": ""}
    assert profile_change(form, PROFILE)["contacts"] == [
        {"kind": "email", "value": "ama@gha.example"},
        {"kind": "email", "value": "ama.owusu@home.example"},
    ]


contact = st.fixed_dictionaries({"kind": st.sampled_from(["email", "phone", "postal"]), "value": st.text(min_size=1)})
profiles = st.fixed_dictionaries(
    {
        "name": st.text(min_size=1).filter(lambda t: t.strip() == t and t),
        "affiliations": st.lists(st.text(min_size=1).filter(lambda t: t.strip() == t and ";" not in t)),
        "contacts": st.lists(contact, max_size=5),
    }
)


@given(profiles)
def test_a6r11_any_profile_shown_in_the_form_and_sent_back_unchanged_requests_nothing(profile) -> None:
    assert profile_change(profile_fields(profile), profile) == {}
