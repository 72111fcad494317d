"""Nomenclature versions side by side (A6R-57): what the ledger judges issuances against, and what
replay judges each journal entry against again (A6R-48)."""

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from registry_contracts.nomenclatures import NomenclatureVersions, UnknownVersion, load_default


def version_1() -> dict[str, Any]:
    text = files("registry_contracts.nomenclatures").joinpath("registry-nomenclatures.v1.json").read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def write(directory: Path, name: str, data: dict[str, Any]) -> str:
    (directory / name).write_text(json.dumps(data), encoding="utf-8")
    return str(directory)


def test_a6r57_the_shipped_versions_are_at_hand_and_the_latest_is_judged_against() -> None:
    shipped = NomenclatureVersions()
    assert shipped.versions == (1,)
    assert shipped.latest == shipped.get(1) == load_default()


def test_a6r57_a_later_version_from_a_directory_sits_beside_the_shipped_ones(tmp_path: Path) -> None:
    later = {**version_1(), "version": 2, "metrics": [m for m in version_1()["metrics"] if m["code"] != "MWh_RE"]}
    versions = NomenclatureVersions(write(tmp_path, "registry-nomenclatures.v2.json", later))
    assert versions.versions == (1, 2)
    assert versions.latest.version == 2 and not versions.latest.is_known_metric("MWh_RE")
    assert versions.get(1).is_known_metric("MWh_RE")


def test_a6r57_a_version_not_at_hand_is_named_in_the_refusal() -> None:
    with pytest.raises(UnknownVersion, match=r"nomenclature version 7 is not at hand \(versions here: 1\)"):
        NomenclatureVersions().get(7)


def test_a6r57_a_file_whose_name_and_version_disagree_is_refused(tmp_path: Path) -> None:
    directory = write(tmp_path, "registry-nomenclatures.v3.json", {**version_1(), "version": 2})
    with pytest.raises(ValueError, match="holds nomenclature version 2, not 3"):
        NomenclatureVersions(directory)


def test_a6r57_a_version_never_changes_its_content(tmp_path: Path) -> None:
    """A directory's version 1 differing from the shipped one would make replay judge old
    issuances against other data than they were judged against."""
    changed = {**version_1(), "sectors": version_1()["sectors"][:-1]}
    changed["activity_types"] = [a for a in changed["activity_types"] if a["sector"] != "other"]
    directory = write(tmp_path, "registry-nomenclatures.v1.json", changed)
    with pytest.raises(ValueError, match="a version's content never changes"):
        NomenclatureVersions(directory)
