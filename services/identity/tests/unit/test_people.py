"""A6R-10, A6R-15: one person one record, contacts, the hash chain of the log (A6R-48)."""

from datetime import UTC, date, datetime

import pytest

from identity.domain.errors import Refused
from identity.domain.journal import CHAIN, Entry
from identity.domain.people import check_contacts, normalise_email, person_key, split_change
from registry_contracts.chain import GENESIS_HASH, first_break


def test_a6r_15_person_key_ignores_accents_case_spacing_and_punctuation() -> None:
    a = person_key("José  Núñez-Pérez", date(1980, 5, 1), "esp")
    assert a == person_key("jose nunez perez", date(1980, 5, 1), "ESP")
    assert a != person_key("jose nunez perez", date(1980, 5, 2), "ESP")


def test_a6r_15_email_key_is_case_folded() -> None:
    assert normalise_email("  Ana.Silva@Example.ORG ") == "ana.silva@example.org"


def test_a6r_10_two_methods_of_two_kinds() -> None:
    assert check_contacts([{"kind": "email", "value": "a@b.org"}, {"kind": "phone", "value": "+41225551234"}])
    with pytest.raises(Refused):
        check_contacts([{"kind": "email", "value": "a@b.org"}, {"kind": "email", "value": "c@d.org"}])
    with pytest.raises(Refused):
        check_contacts([{"kind": "email", "value": "a@b.org"}, {"kind": "phone", "value": "022 555 12 34"}])


def test_a6r_11_contacts_apply_at_once_names_wait() -> None:
    now, later = split_change({"contacts": [], "name": "X"})
    assert set(now) == {"contacts"} and set(later) == {"name"}
    with pytest.raises(Refused):
        split_change({"email_verified": True})


def test_a6r_48_the_chain_exposes_an_altered_entry() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    links, previous = [], GENESIS_HASH
    for n in range(1, 4):
        e = Entry(n, at, "grant.granted", "admin", None, "u1", {"id": f"g{n}"})
        links.append(e.link(CHAIN.hash(e.body(), previous)))
        previous = links[-1].entry_hash
    assert first_break(CHAIN, links) is None
    tampered = Entry(2, at, "grant.granted", "admin", None, "u1", {"id": "other"})
    broken = first_break(CHAIN, [links[0], tampered.link(links[1].entry_hash), links[2]])
    assert broken is not None and broken.sequence == 2
