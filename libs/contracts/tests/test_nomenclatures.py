"""Common nomenclatures as versioned reference data (A6R-40, A6R-41, A6R-57) and identifier formats."""

import json
from importlib.resources import files
from typing import Any

import pytest
from pydantic import ValidationError

from registry_contracts.nomenclatures import (
    UnknownCode,
    is_cooperative_approach_id,
    is_party_code,
    is_party_registry_id,
    load_default,
    load_from_file,
    load_from_text,
    party_name,
)

DATA = files("registry_contracts.nomenclatures").joinpath("registry-nomenclatures.v1.json")


def default_data() -> dict[str, Any]:
    return json.loads(DATA.read_text(encoding="utf-8"))


def test_a6r57_default_nomenclature_loads_and_is_cached() -> None:
    nomenclature = load_default()
    assert nomenclature.version == 1
    assert load_default() is nomenclature


def test_a6r57_update_from_a_file_loads_the_same_data() -> None:
    assert load_from_file(str(DATA)) == load_default()


def test_a6r41_account_types_and_statuses() -> None:
    n = load_default()
    assert {e.code for e in n.account_types} >= {
        "issuance",
        "holding",
        "use_ndc",
        "use_oimp",
        "cancellation",
        "administrative_cancellation",
        "administrative_holding",
        "proxy",
    }
    assert [s.code for s in n.account_statuses] == [
        "initial",
        "active",
        "restricted",
        "suspended",
        "frozen",
        "terminated",
    ]
    assert n.account_type("proxy").label == "Proxy account"
    assert n.account_status("frozen").settable_by == ("registry_administrator",)
    assert n.is_known_account_type("holding") and not n.is_known_account_type("Holding")


def test_a6r57_lookups_of_every_list() -> None:
    n = load_default()
    assert n.action_type("corrective_reversal").code == "corrective_reversal"
    assert {p.code for p in n.purposes} == {"NDC", "OIMP", "NDC_OIMP"}
    assert {s.code for s in n.sectors} == {"energy", "ippu", "afolu", "waste", "other"}
    assert n.is_known_sector("afolu") and not n.is_known_sector("AFOLU")
    assert n.sector(n.activity_type("forestry").sector).code == "afolu"
    assert n.registry("CHE01").party == "CHE"
    assert n.registry("INT01").kind == "international"
    assert {n.registry(code).kind for code in ("VCS", "GS")} == {"underlying"}
    assert n.is_known_purpose("NDC") and n.is_known_action_type("issuance") and n.is_known_registry("GS")
    assert n.is_known_account_status("active") and n.is_known_activity_type("forestry")
    assert n.is_known_metric("tCO2e") and not n.is_known_metric("tco2e")


def test_a6r40_metrics_ghg_unit_is_one_tonne() -> None:
    n = load_default()
    assert n.metric("tCO2e").tco2e_per_unit == 1
    non_ghg = [m for m in n.metrics if m.kind == "non_ghg"]
    assert non_ghg and all(m.tco2e_per_unit is None and m.unit for m in non_ghg)


def test_a6r57_unknown_code_lists_the_known_ones() -> None:
    with pytest.raises(UnknownCode, match="'savings' is not a known account type; known: issuance"):
        load_default().account_type("savings")


@pytest.mark.parametrize(
    ("path", "value", "hint"),
    [
        (("account_types", 1, "code"), "issuance", "duplicate"),
        (("activity_types", 0, "sector"), "space", "unknown sector"),
        (("metrics", 0, "tco2e_per_unit"), None, "tco2e_per_unit is 1"),
        (("registry_ids", 1, "party"), "GHA", "Party registry CHE01"),
        (("registry_ids", 0, "party"), "CHE", "only a Party registry"),
        (("account_statuses", 4, "settable_by"), ["account_holder"], "settable_by"),
        (("version",), 0, "version"),
        (("purposes",), [], "purposes is empty"),
    ],
)
def test_a6r57_inconsistent_nomenclature_files_are_refused(path: tuple[Any, ...], value: Any, hint: str) -> None:
    data = default_data()
    target = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    with pytest.raises(ValidationError, match=hint):
        load_from_text(json.dumps(data))


def test_a6r42_party_codes_come_from_iso_3166() -> None:
    assert is_party_code("CHE") and is_party_code("GHA")
    assert not is_party_code("che") and not is_party_code("XYZ") and not is_party_code("CHE\n")
    assert party_name("GHA") == "Ghana"
    with pytest.raises(UnknownCode, match="ISO 3166-1"):
        party_name("XYZ")


def test_a6r46_cooperative_approach_and_registry_id_formats() -> None:
    assert is_cooperative_approach_id("CA0001")
    assert not any(map(is_cooperative_approach_id, ["CA001", "CA00001", "ca0001", "CB0001", "CA0001\n"]))
    assert is_party_registry_id("CHE01") and is_party_registry_id("INT01")
    assert not any(map(is_party_registry_id, ["CHE1", "che01", "CHE001", "VCS"]))
